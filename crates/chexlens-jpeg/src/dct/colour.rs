//! Which colour space a three-component JPEG is in (libjpeg's
//! default_decompress_parms rules) and its YCbCr to RGB conversion with
//! jdcolor.c's fixed-point tables.

use super::samples::Sample;

/// How the decoded components become the output planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColourSpace {
    Grey,
    Rgb,
    YCbCr,
}

impl ColourSpace {
    /// libjpeg's choice for a frame's components: a JFIF marker means
    /// YCbCr; an Adobe marker says (transform 0 is RGB); else component
    /// identifiers 'R', 'G', 'B' mean RGB, anything else YCbCr.
    pub(super) fn of(ids: &[u8], jfif: bool, adobe_transform: Option<u8>) -> Self {
        match ids {
            [_] => Self::Grey,
            _ if jfif => Self::YCbCr,
            _ => match adobe_transform {
                Some(0) => Self::Rgb,
                Some(_) => Self::YCbCr,
                None if ids == b"RGB" => Self::Rgb,
                None => Self::YCbCr,
            },
        }
    }

    /// DICOM's rule (PS3.5 8.2.1, as pydicom applies it): the Photometric
    /// Interpretation says whether the components are YCbCr, except that
    /// component identifiers 'R', 'G', 'B' mean RGB and a JFIF marker YCbCr.
    pub(super) fn for_dicom(ids: &[u8], jfif: bool, photometric_ybr: bool) -> Self {
        match ids {
            [_] => Self::Grey,
            b"RGB" | b"rgb" => Self::Rgb,
            _ if photometric_ybr || jfif => Self::YCbCr,
            _ => Self::Rgb,
        }
    }

    /// Converts Y, Cb, Cr planes to R, G, B in place, with jdcolor.c's
    /// fixed-point arithmetic (written so that the compiler vectorises it).
    pub(super) fn to_output<T: Sample>(self, planes: &mut [Vec<T>], precision: u8) {
        if self != Self::YCbCr {
            return;
        }
        let [y, cb, cr] = planes else { return };
        let center = 1i32 << (precision - 1);
        let max = (1i32 << precision) - 1;
        for ((y, cb), cr) in y.iter_mut().zip(cb.iter_mut()).zip(cr.iter_mut()) {
            let [r, g, b] = ycc_to_rgb(y.get() as i32, cb.get() as i32 - center, cr.get() as i32 - center);
            *y = T::of(r.clamp(0, max) as u32);
            *cb = T::of(g.clamp(0, max) as u32);
            *cr = T::of(b.clamp(0, max) as u32);
        }
    }
}

const ONE_HALF: i32 = 1 << 15;
const FIX_1_40200: i32 = 91_881;
const FIX_1_77200: i32 = 116_130;
const FIX_0_71414: i32 = 46_802;
const FIX_0_34414: i32 = 22_554;

/// jdcolor.c: FIX(x) = round(x * 2^16); Cb and Cr centred.
fn ycc_to_rgb(y: i32, cb: i32, cr: i32) -> [i32; 3] {
    [
        y + ((FIX_1_40200 * cr + ONE_HALF) >> 16),
        y + ((-FIX_0_34414 * cb + ONE_HALF - FIX_0_71414 * cr) >> 16),
        y + ((FIX_1_77200 * cb + ONE_HALF) >> 16),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_space_follows_libjpeg() {
        assert_eq!(ColourSpace::of(&[1], false, None), ColourSpace::Grey);
        assert_eq!(ColourSpace::of(&[1, 2, 3], false, None), ColourSpace::YCbCr);
        assert_eq!(ColourSpace::of(b"RGB", false, None), ColourSpace::Rgb);
        assert_eq!(ColourSpace::of(b"RGB", true, None), ColourSpace::YCbCr);
        assert_eq!(ColourSpace::of(&[1, 2, 3], false, Some(0)), ColourSpace::Rgb);
        assert_eq!(ColourSpace::of(b"RGB", false, Some(1)), ColourSpace::YCbCr);
    }

    #[test]
    fn dicom_photometric_interpretation_decides() {
        assert_eq!(ColourSpace::for_dicom(&[1, 2, 3], false, false), ColourSpace::Rgb);
        assert_eq!(ColourSpace::for_dicom(&[1, 2, 3], false, true), ColourSpace::YCbCr);
        assert_eq!(ColourSpace::for_dicom(&[1, 2, 3], true, false), ColourSpace::YCbCr);
        assert_eq!(ColourSpace::for_dicom(b"RGB", true, true), ColourSpace::Rgb);
    }

    #[test]
    fn grey_stays_grey_and_extremes_clamp() {
        assert_eq!(ycc_to_rgb(100, 0, 0), [100, 100, 100]);
        let mut planes = vec![vec![255u16], vec![255], vec![255]];
        ColourSpace::YCbCr.to_output(&mut planes, 8);
        // R = 255 + 1.402 * 127 clamps; G = 255 - 0.344*127 - 0.714*127 = 120.6 -> 121.
        assert_eq!(planes, vec![vec![255], vec![121], vec![255]]);
    }
}
