//! The two data sets on disk: Oxford-IIIT Pet (photos + trimaps) and the book's cats-vs-dogs
//! folders. Photos are decoded and resized once, through the shared preprocessing path, and
//! kept in memory so that epochs never re-decode JPEGs. A broken file is skipped with a
//! warning that names it, and counted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::photo::{decode_photo, resize_for_model, resize_mask};
use crate::card::DataSource;

/// A wrong `--data` directory.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}: no such directory")]
    Missing(PathBuf),
    #[error("{0}: {1}")]
    Empty(PathBuf, String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// What each example is labelled with.
#[derive(Debug, Clone)]
pub enum Targets {
    /// One class per photo (0 = cat, 1 = dog).
    Labels(Vec<u8>),
    /// One class per pixel of the model-sized photo (0 = pet, 1 = background, 2 = border).
    Masks(Vec<Vec<u8>>),
}

/// Decoded, model-sized examples.
#[derive(Debug, Clone)]
pub struct Examples {
    pub names: Vec<String>,
    pub images: Vec<RgbImage>,
    pub targets: Targets,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Examples {
    /// Number of usable examples.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Appends `other`'s examples (both labelled, or both masked).
    pub fn extend(&mut self, other: Examples) {
        self.names.extend(other.names);
        self.images.extend(other.images);
        self.skipped.extend(other.skipped);
        match (&mut self.targets, other.targets) {
            (Targets::Labels(a), Targets::Labels(b)) => a.extend(b),
            (Targets::Masks(a), Targets::Masks(b)) => a.extend(b),
            _ => unreachable!("labelled and masked examples are never merged"),
        }
    }
}

/// The classifier's training and validation photos from several directories, each laid out
/// as the book's split (`train/` and `validation/` with `cat/` and `dog/`), as plain `cat/` +
/// `dog/` folders (all training photos), or as Oxford-IIIT Pet (`images/`; the species is in the
/// name: cat breeds are capitalised). Validation comes from the first directory with a
/// `validation/` folder; there must be one.
pub fn load_classifier_data(
    dirs: &[PathBuf],
    size: u32,
) -> Result<(Examples, Examples, Vec<DataSource>), DataError> {
    let mut train: Option<Examples> = None;
    let mut valid: Option<Examples> = None;
    let mut sources = Vec::new();
    for dir in dirs {
        require_dir(dir)?;
        let (part, examples) = if dir.join("train").is_dir() {
            ("train/{cat,dog}", load_labelled(&dir.join("train"), size)?)
        } else if dir.join("cat").is_dir() || dir.join("dog").is_dir() {
            ("{cat,dog}", load_labelled(dir, size)?)
        } else if dir.join("images").is_dir() {
            (
                "images (species from the breed name)",
                load_species(dir, size)?,
            )
        } else {
            return Err(DataError::Empty(
                dir.clone(),
                "expected train/ and validation/, cat/ and dog/, or an Oxford-IIIT Pet images/ folder".into(),
            ));
        };
        sources.push(DataSource {
            dir: dir.display().to_string(),
            part: part.into(),
            photos: examples.len(),
        });
        merge(&mut train, examples);
        if valid.is_none() && dir.join("validation").is_dir() {
            let examples = load_labelled(&dir.join("validation"), size)?;
            sources.push(DataSource {
                dir: dir.display().to_string(),
                part: "validation/{cat,dog}".into(),
                photos: examples.len(),
            });
            valid = Some(examples);
        }
    }
    let first = dirs.first().cloned().unwrap_or_default();
    let valid = valid.ok_or_else(|| {
        DataError::Empty(
            first.clone(),
            "no --data directory has a validation/ folder".into(),
        )
    })?;
    let train = train.ok_or_else(|| DataError::Empty(first, "no training photos".into()))?;
    Ok((train, valid, sources))
}

fn merge(into: &mut Option<Examples>, examples: Examples) {
    match into {
        Some(all) => all.extend(examples),
        None => *into = Some(examples),
    }
}

/// Oxford-IIIT Pet photos labelled by species (label 0 = cat, 1 = dog): cat breeds are the
/// capitalised names (`Bengal_10`), dog breeds lower case (`beagle_14`).
pub fn load_species(root: &Path, size: u32) -> Result<Examples, DataError> {
    let files = sorted_files(&root.join("images"), &["jpg", "jpeg", "png"])?;
    if files.is_empty() {
        return Err(DataError::Empty(
            root.to_path_buf(),
            "no photos in images/".into(),
        ));
    }
    Ok(load_all(
        &files,
        |path| {
            let name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let is_cat = name.chars().next().is_some_and(char::is_uppercase);
            Ok(Loaded {
                image: resize_for_model(&read_photo(path)?, size),
                target: u8::from(!is_cat),
                name,
            })
        },
        Targets::Labels,
    ))
}

/// A photo and its trimap in the Oxford-IIIT Pet layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrimapPair {
    pub name: String,
    pub image: PathBuf,
    pub trimap: PathBuf,
}

impl TrimapPair {
    /// The breed: the name without its trailing `_<number>`.
    pub fn breed(&self) -> &str {
        self.name
            .rsplit_once('_')
            .map_or(&self.name, |(breed, _)| breed)
    }
}

fn require_dir(dir: &Path) -> Result<(), DataError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(DataError::Missing(dir.to_path_buf()))
    }
}

fn sorted_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, DataError> {
    require_dir(dir)?;
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::Io(dir.to_path_buf(), e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Finds the photo/trimap pairs of an Oxford-IIIT Pet directory (`images/*.jpg`,
/// `annotations/trimaps/*.png`). Photos without a trimap are not pairs and are ignored.
pub fn oxford_pairs(root: &Path) -> Result<Vec<TrimapPair>, DataError> {
    require_dir(root)?;
    let trimaps = root.join("annotations").join("trimaps");
    let pairs: Vec<TrimapPair> = sorted_files(&root.join("images"), &["jpg", "jpeg", "png"])?
        .into_iter()
        .filter_map(|image| {
            let name = image.file_stem()?.to_str()?.to_string();
            let trimap = trimaps.join(format!("{name}.png"));
            trimap.is_file().then_some(TrimapPair {
                name,
                image,
                trimap,
            })
        })
        .collect();
    if pairs.is_empty() {
        return Err(DataError::Empty(
            root.to_path_buf(),
            "no image/trimap pairs found (expected images/<name>.jpg and annotations/trimaps/<name>.png)".into(),
        ));
    }
    Ok(pairs)
}

/// A seeded split stratified by breed: about `valid_fraction` of every breed (at least one
/// photo of breeds with two or more) goes to validation. Returns (train, validation).
pub fn split_by_breed(
    pairs: &[TrimapPair],
    valid_fraction: f64,
    seed: u64,
) -> (Vec<TrimapPair>, Vec<TrimapPair>) {
    let mut by_breed: BTreeMap<&str, Vec<&TrimapPair>> = BTreeMap::new();
    for pair in pairs {
        by_breed.entry(pair.breed()).or_default().push(pair);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (_, mut group) in by_breed {
        group.shuffle(&mut rng);
        let n_valid = if group.len() < 2 {
            0
        } else {
            ((group.len() as f64 * valid_fraction).round() as usize).max(1)
        };
        valid.extend(group[..n_valid].iter().map(|p| (*p).clone()));
        train.extend(group[n_valid..].iter().map(|p| (*p).clone()));
    }
    (train, valid)
}

/// Reads a trimap as classes 0/1/2 (trimap values 1/2/3) at its own resolution, checking that
/// it matches its photo's size and holds only the three trimap values.
pub fn read_trimap(path: &Path, expected: (u32, u32)) -> Result<Vec<u8>, String> {
    let trimap = image::open(path)
        .map_err(|e| format!("the trimap is not a readable image ({e})"))?
        .into_luma8();
    if trimap.dimensions() != expected {
        return Err(format!(
            "trimap is {}x{} but its photo is {}x{}",
            trimap.width(),
            trimap.height(),
            expected.0,
            expected.1
        ));
    }
    if let Some(bad) = trimap.pixels().find(|p| !(1..=3).contains(&p.0[0])) {
        return Err(format!(
            "unexpected trimap value {} (expected 1, 2 or 3)",
            bad.0[0]
        ));
    }
    Ok(trimap.pixels().map(|p| p.0[0] - 1).collect())
}

/// A file that could not be used, and why.
pub type Skipped = (PathBuf, String);

/// One decoded example before it joins [`Examples`].
struct Loaded<T> {
    name: String,
    image: RgbImage,
    target: T,
}

/// Loads `items` in parallel; failures become [`Skipped`] entries instead of stopping the run.
fn load_all<I: Sync, T: Send>(
    items: &[I],
    load: impl Fn(&I) -> Result<Loaded<T>, Skipped> + Sync + Send,
    targets: impl FnOnce(Vec<T>) -> Targets,
) -> Examples {
    let loaded: Vec<Result<Loaded<T>, Skipped>> = items.par_iter().map(load).collect();
    let (mut names, mut images, mut values, mut skipped) = (vec![], vec![], vec![], vec![]);
    for item in loaded {
        match item {
            Ok(Loaded {
                name,
                image,
                target,
            }) => {
                names.push(name);
                images.push(image);
                values.push(target);
            }
            Err(skip) => skipped.push(skip),
        }
    }
    Examples {
        names,
        images,
        targets: targets(values),
        skipped,
    }
}

fn read_photo(path: &Path) -> Result<RgbImage, Skipped> {
    let bytes = std::fs::read(path).map_err(|e| (path.to_path_buf(), e.to_string()))?;
    decode_photo(&bytes).map_err(|e| (path.to_path_buf(), e.to_string()))
}

/// Decodes and resizes photos and trimaps (nearest sampling for the classes), in parallel;
/// broken pairs are skipped.
pub fn load_segmentation(pairs: &[TrimapPair], size: u32) -> Examples {
    load_all(
        pairs,
        |pair| {
            let photo = read_photo(&pair.image)?;
            let (w, h) = photo.dimensions();
            let classes =
                read_trimap(&pair.trimap, (w, h)).map_err(|e| (pair.trimap.clone(), e))?;
            let s = size as usize;
            Ok(Loaded {
                name: pair.name.clone(),
                image: resize_for_model(&photo, size),
                target: resize_mask(&classes, w as usize, h as usize, s, s),
            })
        },
        Targets::Masks,
    )
}

/// Decodes and resizes a `cat/` + `dog/` directory (label 0 = cat, 1 = dog).
pub fn load_labelled(dir: &Path, size: u32) -> Result<Examples, DataError> {
    require_dir(dir)?;
    let mut files = Vec::new();
    for (label, class) in ["cat", "dog"].into_iter().enumerate() {
        for file in sorted_files(
            &dir.join(class),
            &["jpg", "jpeg", "png", "webp", "gif", "bmp"],
        )? {
            files.push((file, label as u8));
        }
    }
    if files.is_empty() {
        return Err(DataError::Empty(
            dir.to_path_buf(),
            "no photos in cat/ and dog/".into(),
        ));
    }
    Ok(load_all(
        &files,
        |(path, label)| {
            Ok(Loaded {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                image: resize_for_model(&read_photo(path)?, size),
                target: *label,
            })
        },
        Targets::Labels,
    ))
}
