//! chexlens-chexpert: the CheXpert vocabulary the model speaks, and nothing
//! else: its 14 findings in the checkpoint's label order (`labels`) and the
//! patient columns it is given (sex, age, frontal/lateral, AP/PA), parsed
//! from people's spellings and encoded as the model's metadata vector
//! (`metadata`).

pub mod labels;
pub mod metadata;
