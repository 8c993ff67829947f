//! A JPEG whose frame claims more pixels than any decoder is allowed is
//! refused by the entry point a user's file takes, with the size it claimed,
//! before anything is decoded.

use chexlens_images::input::{ImageError, decode_image};
use std::path::PathBuf;

#[test]
fn a_frame_claiming_too_many_pixels_is_refused_before_decoding() {
    // camera_grey_q90 (chexlens-jpeg's fixtures) with its SOF0 saying 20000 x 20000 (400 MP).
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../chexlens-jpeg/tests/fixtures/jpeg/camera_grey_q90.jpg");
    let mut bytes = std::fs::read(fixture).unwrap();
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 9].copy_from_slice(&[0x4E, 0x20, 0x4E, 0x20]);
    assert_eq!(
        decode_image(&bytes).unwrap_err(),
        ImageError::TooLarge {
            width: 20_000,
            height: 20_000,
            max_mp: 80
        }
    );
}
