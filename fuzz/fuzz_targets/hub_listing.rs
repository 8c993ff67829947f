//! The Hub's file listing (JSON) and the member selection made from it.
#![no_main]
use chexlens_hub::{HubRepo, Listing, select};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(listing) = Listing::from_json(data) {
        let repo: HubRepo = "owner/name".parse().expect("a valid repository");
        let _ = select(&repo, listing.files.iter().map(|f| f.path.as_str()));
    }
});
