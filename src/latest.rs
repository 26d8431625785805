//! "Latest request wins": each request takes a [`Ticket`]; an answer whose ticket is no longer
//! the latest (a newer request came, or [`Latest::cancel`]) is dropped. The page uses it for
//! photos, Grad-CAM depths, layers and filter runs; the models' thread for analyses and filter
//! runs. Plain Rust (single-threaded, `Rc`), so it is unit-tested natively.

use std::cell::Cell;
use std::rc::Rc;

/// A counter of requests; the last ticket handed out is the only current one.
#[derive(Clone, Default)]
pub struct Latest(Rc<Cell<u64>>);

impl Latest {
    /// A ticket for a new request, which makes every older one stale.
    pub fn next(&self) -> Ticket {
        self.cancel();
        Ticket {
            latest: self.clone(),
            number: self.0.get(),
        }
    }

    /// Makes every ticket handed out so far stale.
    pub fn cancel(&self) {
        self.0.set(self.0.get() + 1);
    }
}

/// One request's claim on a [`Latest`].
#[derive(Clone)]
pub struct Ticket {
    latest: Latest,
    number: u64,
}

impl Ticket {
    pub fn is_current(&self) -> bool {
        self.latest.0.get() == self.number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_ticket_is_current() {
        let latest = Latest::default();
        let first = latest.next();
        assert!(first.is_current());
        let second = latest.next();
        assert!(!first.is_current());
        assert!(second.is_current());
        latest.cancel();
        assert!(!second.is_current());
        assert!(latest.next().is_current());
    }
}
