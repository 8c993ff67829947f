//! What can go wrong making the objects, in the user's words.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DicomOutError {
    #[error("the source file cannot be read as DICOM: {0}")]
    Source(String),
    #[error("the source DICOM file has no {0}: its results cannot join its study")]
    MissingInSource(String),
    #[error("the source DICOM file's {0} is not a UID (digits and dots, at most 64): its results cannot reference it")]
    BadSourceUid(String),
    #[error("{0}")]
    BadValue(String),
    #[error("no random numbers for new UIDs: {0}")]
    NoRandomness(String),
    #[error("the DICOM object could not be written: {0}")]
    Write(String),
}
