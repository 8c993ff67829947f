//! The page's banner: its name, the app's status, and what it does with
//! your data and what it is not for.

use super::pwa::AppStatus;
use leptos::prelude::*;

#[component]
pub fn Banner() -> impl IntoView {
    view! {
        // Everything above the work area sits in the banner landmark, so that
        // screen readers (and axe's "region" rule) find the privacy and
        // disclaimer statements in a landmark.
        <header class="top">
            <div class="title-row">
                <h1>"chexlens"</h1>
                <p class="tagline">"Chest X-ray analysis that runs entirely in this browser."</p>
                <AppStatus/>
            </div>
            <div class="notice-row">
                // One line says what matters; the whole statement is a click away.
                <details class="privacy-line" data-testid="privacy-line">
                    <summary>"Nothing leaves this machine: your X-ray is decoded and analysed in this page."</summary>
                    <p class="privacy" data-testid="privacy">
                        "Your X-ray never leaves this machine: it is decoded and analysed here, in this page. "
                        "The page fetches its own files (once; after that they are kept for offline use), "
                        "asks whether a model is deployed beside it, and downloads the model you choose when you choose it, keeping it for offline use. "
                        "Only when you load from Hugging Face does it reach the Hub (huggingface.co and its download hosts), sending your token, if you give one, to the Hub alone and keeping it nowhere. "
                        "It makes no request while analysing and loads nothing from any other site. "
                        "Your browser itself asks this site from time to time whether sw.js has changed, to learn of a new version; that request carries nothing of yours. "
                        "A batch's results (probabilities, heat maps, the metadata used and the file names) are kept in this browser's private storage for this site until you clear the batch, so that closing the tab loses nothing; the images themselves are not copied there. "
                        "Patient names, IDs and dates in DICOM files are not shown, kept or sent."
                    </p>
                </details>
                <p class="disclaimer" role="note">
                    "For research and education only. Not a medical device; not for diagnosis."
                </p>
            </div>
        </header>
    }
}
