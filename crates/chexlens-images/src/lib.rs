//! chexlens-images: a user's PNG, JPEG or DICOM file turned into the image the
//! model sees, within hard bounds: decoding (`input`, `dicom`), the
//! full-depth levels and windowing behind the viewer (`levels`, `window`),
//! the reference pipeline's resizing and normalisation (`preprocess`), and
//! what is drawn from a result onto the image (heat maps in `cam`, PNG
//! encoding in `png`), and whether a file is a chest radiograph at all
//! (`suitability`). No tensors, no burn: the page links it without the
//! model.

pub mod cam;
pub mod dicom;
pub mod faithfulness;
pub mod image;
pub mod input;
pub mod levels;
pub mod png;
pub mod preprocess;
pub mod suitability;
pub mod window;
