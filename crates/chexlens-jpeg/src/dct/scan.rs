//! One scan's entropy-coded data into the frame's coefficient blocks:
//! sequential scans whole, progressive scans by spectral band and bit
//! (jdhuff.c and jdphuff.c's rules, including their end-of-band runs;
//! jdarith.c's for arithmetic coding), restart markers, and what libjpeg
//! does when the data is damaged.

use super::JpegError;
use super::arith::{ArithPass, ArithScan};
use super::damage::{Damage, DamageLog};
use super::entropy::{BitReader, Huffman, standard_table};
use super::frame::Frame;
use super::markers::{NATURAL, ScanHeader, Tables};
use super::segments::find_marker;

/// libjpeg's limit on blocks in one interleaved MCU.
const MAX_BLOCKS_IN_MCU: usize = 10;

#[derive(Clone, Copy)]
enum Pass {
    Sequential,
    DcFirst,
    DcRefine,
    AcFirst,
    AcRefine,
}

impl Pass {
    fn arithmetic(self) -> ArithPass {
        match self {
            Pass::Sequential => ArithPass::Sequential,
            Pass::DcFirst => ArithPass::DcFirst,
            Pass::DcRefine => ArithPass::DcRefine,
            Pass::AcFirst => ArithPass::AcFirst,
            Pass::AcRefine => ArithPass::AcRefine,
        }
    }

    fn of(frame: &Frame, scan: &ScanHeader) -> Self {
        match (frame.progressive, scan.ss, scan.ah) {
            (false, _, _) => Pass::Sequential,
            (true, 0, 0) => Pass::DcFirst,
            (true, 0, _) => Pass::DcRefine,
            (true, _, 0) => Pass::AcFirst,
            (true, _, _) => Pass::AcRefine,
        }
    }
}

fn table(defined: &Option<Huffman>, ac: bool, index: usize) -> Result<Huffman, JpegError> {
    match defined {
        Some(table) => Ok(table.clone()),
        None if index < 2 => Ok(standard_table(ac, index)),
        None => Err(JpegError::Corrupt(format!(
            "Huffman table {index} is used but not defined"
        ))),
    }
}

/// Latches each scanned component's quantisation table; returns the DC and
/// the AC Huffman tables the pass reads, one per component.
fn latch_tables(
    frame: &mut Frame,
    scan: &ScanHeader,
    tables: &Tables,
    pass: Pass,
) -> Result<(Vec<Huffman>, Vec<Huffman>), JpegError> {
    let mut dc = Vec::new();
    let mut ac = Vec::new();
    for sc in &scan.components {
        frame.latch_quant(sc.index, tables)?;
        if matches!(pass, Pass::Sequential | Pass::DcFirst) {
            let table = table(&tables.dc[sc.dc_table], false, sc.dc_table)?;
            // jdhuff.c refuses DC tables with sizes a difference cannot have.
            if table.largest_value() > 15 {
                return Err(JpegError::Corrupt("a DC Huffman table holds a size above 15".into()));
            }
            dc.push(table);
        }
        if matches!(pass, Pass::Sequential | Pass::AcFirst | Pass::AcRefine) {
            ac.push(table(&tables.ac[sc.ac_table], true, sc.ac_table)?);
        }
    }
    Ok((dc, ac))
}

/// The scan's MCUs across and down, and the blocks in one: a single
/// component's scan has an MCU of one block.
fn mcu_grid(frame: &Frame, scan: &ScanHeader) -> Result<(usize, usize, usize), JpegError> {
    if scan.components.len() == 1 {
        let c = &frame.components[scan.components[0].index];
        return Ok((c.blocks_w, c.blocks_h, 1));
    }
    let blocks: usize = scan
        .components
        .iter()
        .map(|sc| frame.components[sc.index].blocks_in_mcu())
        .sum();
    if blocks > MAX_BLOCKS_IN_MCU {
        return Err(JpegError::Corrupt("an MCU holds more than 10 blocks".into()));
    }
    Ok((frame.mcus_x, frame.mcus_y, blocks))
}

/// The first pass's view of a scan: its work is charged against the
/// frame's budget and its data skipped to the next marker that is not a
/// restart marker; a file cut off inside it is refused here, before
/// anything the size of the image is allocated.
pub(super) fn skip_scan(
    data: &[u8],
    start: usize,
    frame: &mut Frame,
    scan: &ScanHeader,
    tables: &Tables,
) -> Result<usize, JpegError> {
    // Every table the scan names must be there, as the decode will need it.
    if frame.arithmetic {
        for sc in &scan.components {
            frame.latch_quant(sc.index, tables)?;
        }
    } else {
        latch_tables(frame, scan, tables, Pass::of(frame, scan))?;
    }
    let (mcus_x, mcus_y, blocks_per_mcu) = mcu_grid(frame, scan)?;
    frame.charge((mcus_x * mcus_y * blocks_per_mcu * (scan.se - scan.ss + 1)) as u64)?;
    let mut pos = start;
    loop {
        let found = find_marker(data, pos)?;
        if !(0xD0..=0xD7).contains(&found.code) {
            return Ok(found.start);
        }
        pos = found.after;
    }
}

/// Decodes the scan whose data starts at `start`; returns where the
/// file's markers go on, and the bytes read but unused before there.
pub(super) fn decode_scan(
    data: &[u8],
    start: usize,
    frame: &mut Frame,
    scan: &ScanHeader,
    tables: &Tables,
    log: &mut DamageLog,
) -> Result<(usize, usize), JpegError> {
    let pass = Pass::of(frame, scan);
    let (mcus_x, mcus_y, _) = mcu_grid(frame, scan)?;
    let single = scan.components.len() == 1;
    frame.choose_storage(scan.components.len());
    let mut entropy = if frame.arithmetic {
        for sc in &scan.components {
            frame.latch_quant(sc.index, tables)?;
        }
        Entropy::Arithmetic(ArithScan::new(data, start, scan, tables, pass.arithmetic()))
    } else {
        let (dc, ac) = latch_tables(frame, scan, tables, pass)?;
        Entropy::Huffman(McuDecoder {
            reader: BitReader::new(data, start),
            predictions: [0; 4],
            eob_run: 0,
            pass,
            scan,
            dc,
            ac,
        })
    };
    frame.allocate(single);
    let interval = tables.restart_interval;
    let mut restarts_to_go = interval;
    let mut next_restart = 0u8;
    for my in 0..mcus_y {
        frame.start_mcu_row(my, single);
        for mx in 0..mcus_x {
            if interval > 0 {
                if restarts_to_go == 0 {
                    entropy.restart(next_restart, log)?;
                    next_restart = (next_restart + 1) & 7;
                    restarts_to_go = interval;
                }
                restarts_to_go -= 1;
            }
            entropy.mcu(frame, scan, mx, my, log)?;
        }
        frame.finish_mcu_row();
    }
    Ok(entropy.end())
}

/// The scan's entropy decoder, by the frame's coding.
enum Entropy<'a> {
    Huffman(McuDecoder<'a>),
    Arithmetic(ArithScan<'a>),
}

impl Entropy<'_> {
    fn restart(&mut self, n: u8, log: &mut DamageLog) -> Result<(), JpegError> {
        match self {
            Entropy::Huffman(decoder) => decoder.restart(n, log),
            Entropy::Arithmetic(decoder) => decoder.restart(n, log),
        }
    }

    /// The blocks of the MCU at (`mx`, `my`), component by component,
    /// unless the segment has run out of data (or, arithmetic, failed):
    /// then the MCU is left as it is, as libjpeg leaves it.
    #[inline]
    fn mcu(
        &mut self,
        frame: &mut Frame,
        scan: &ScanHeader,
        mx: usize,
        my: usize,
        log: &mut DamageLog,
    ) -> Result<(), JpegError> {
        let skip = match self {
            Entropy::Huffman(decoder) => decoder.reader.insufficient,
            Entropy::Arithmetic(decoder) => decoder.failed(),
        };
        if skip {
            return Ok(());
        }
        let single = scan.components.len() == 1;
        for (k, sc) in scan.components.iter().enumerate() {
            let component = &mut frame.components[sc.index];
            let (across, down) = if single { (1, 1) } else { (component.h, component.v) };
            for v in 0..down {
                for h in 0..across {
                    let block = component.block_mut(mx * across + h, my * down + v);
                    match self {
                        Entropy::Huffman(decoder) => decoder.block(k, block, log)?,
                        Entropy::Arithmetic(decoder) => decoder.block(k, block, log),
                    }
                }
            }
        }
        match self {
            Entropy::Huffman(decoder) => decoder.reader.check_data(log),
            Entropy::Arithmetic(decoder) => decoder.check_data(),
        }
    }

    fn end(&mut self) -> (usize, usize) {
        match self {
            Entropy::Huffman(decoder) => decoder.reader.end(),
            Entropy::Arithmetic(decoder) => decoder.end(),
        }
    }
}

/// What Huffman decoding carries from one MCU to the next: the bits, each
/// component's DC prediction and the end-of-band run, with the scan's
/// tables.
struct McuDecoder<'a> {
    reader: BitReader<'a>,
    predictions: [i32; 4],
    eob_run: u32,
    pass: Pass,
    scan: &'a ScanHeader,
    dc: Vec<Huffman>,
    ac: Vec<Huffman>,
}

impl McuDecoder<'_> {
    /// Past restart marker `n`, predictions and end-of-band runs start again.
    fn restart(&mut self, n: u8, log: &mut DamageLog) -> Result<(), JpegError> {
        self.reader.restart(n, log)?;
        self.predictions = [0; 4];
        self.eob_run = 0;
        Ok(())
    }

    /// One block of the scan's `k`th component, as the pass reads it.
    #[inline]
    fn block(&mut self, k: usize, block: &mut [i16; 64], log: &mut DamageLog) -> Result<(), JpegError> {
        let (reader, scan) = (&mut self.reader, self.scan);
        match self.pass {
            Pass::Sequential => sequential(reader, block, &mut self.predictions[k], &self.dc[k], &self.ac[k], log),
            Pass::DcFirst => dc_first(reader, block, &mut self.predictions[k], &self.dc[k], scan.al, log),
            Pass::DcRefine => {
                if reader.bit() {
                    block[0] |= 1 << scan.al;
                }
                Ok(())
            }
            Pass::AcFirst => ac_first(reader, block, &mut self.eob_run, &self.ac[k], scan, log),
            Pass::AcRefine => ac_refine(reader, block, &mut self.eob_run, &self.ac[k], scan, log),
        }
    }
}

fn dc_difference(
    reader: &mut BitReader,
    table: &Huffman,
    prediction: &mut i32,
    log: &mut DamageLog,
) -> Result<i32, JpegError> {
    let size = reader.decode(table, log)? as u32;
    if size > 15 {
        return Err(JpegError::Corrupt("a DC difference has an impossible size".into()));
    }
    *prediction = prediction
        .checked_add(reader.signed(size))
        .ok_or_else(|| JpegError::Corrupt("a DC coefficient overflows".into()))?;
    Ok(*prediction)
}

fn sequential(
    reader: &mut BitReader,
    block: &mut [i16; 64],
    prediction: &mut i32,
    dc: &Huffman,
    ac: &Huffman,
    log: &mut DamageLog,
) -> Result<(), JpegError> {
    block[0] = dc_difference(reader, dc, prediction, log)? as i16;
    let mut k = 1;
    while k < 64 {
        let symbol = reader.decode(ac, log)?;
        let (run, size) = ((symbol >> 4) as usize, (symbol & 15) as u32);
        if size != 0 {
            k += run;
            block[NATURAL[k]] = reader.signed(size) as i16;
            k += 1;
        } else if run == 15 {
            k += 16;
        } else {
            break;
        }
    }
    Ok(())
}

fn dc_first(
    reader: &mut BitReader,
    block: &mut [i16; 64],
    prediction: &mut i32,
    dc: &Huffman,
    al: u32,
    log: &mut DamageLog,
) -> Result<(), JpegError> {
    block[0] = (dc_difference(reader, dc, prediction, log)?.wrapping_shl(al)) as i16;
    Ok(())
}

fn ac_first(
    reader: &mut BitReader,
    block: &mut [i16; 64],
    eob_run: &mut u32,
    ac: &Huffman,
    scan: &ScanHeader,
    log: &mut DamageLog,
) -> Result<(), JpegError> {
    if *eob_run > 0 {
        *eob_run -= 1;
        return Ok(());
    }
    let mut k = scan.ss;
    while k <= scan.se {
        let symbol = reader.decode(ac, log)?;
        let (run, size) = ((symbol >> 4) as u32, (symbol & 15) as u32);
        if size != 0 {
            k += run as usize;
            block[NATURAL[k]] = (reader.signed(size) << scan.al) as i16;
        } else if run == 15 {
            k += 15;
        } else {
            *eob_run = (1 << run) + reader.bits(run) - 1;
            break;
        }
        k += 1;
    }
    Ok(())
}

/// Adds a correction bit to a coefficient that is already non-zero.
fn refine(reader: &mut BitReader, coefficient: &mut i16, p1: i16, m1: i16) {
    if reader.bit() && *coefficient & p1 == 0 {
        let step = if *coefficient >= 0 { p1 } else { m1 };
        *coefficient = coefficient.wrapping_add(step);
    }
}

fn ac_refine(
    reader: &mut BitReader,
    block: &mut [i16; 64],
    eob_run: &mut u32,
    ac: &Huffman,
    scan: &ScanHeader,
    log: &mut DamageLog,
) -> Result<(), JpegError> {
    let p1 = 1i16 << scan.al;
    let m1 = -1i16 << scan.al;
    let mut k = scan.ss;
    if *eob_run == 0 {
        while k <= scan.se {
            let symbol = reader.decode(ac, log)?;
            let (mut run, size) = ((symbol >> 4) as i32, symbol & 15);
            let mut value = 0i16;
            if size != 0 {
                // The size of a newly non-zero coefficient is always 1.
                if size != 1 {
                    log.note(Damage::BadHuffmanCode);
                }
                value = if reader.bit() { p1 } else { m1 };
            } else if run != 15 {
                *eob_run = (1 << run) + reader.bits(run as u32);
                break;
            }
            // Skip `run` zero coefficients, refining the non-zero ones passed.
            loop {
                let coefficient = &mut block[NATURAL[k]];
                if *coefficient != 0 {
                    refine(reader, coefficient, p1, m1);
                } else {
                    run -= 1;
                    if run < 0 {
                        break;
                    }
                }
                k += 1;
                if k > scan.se {
                    break;
                }
            }
            if value != 0 {
                block[NATURAL[k]] = value;
            }
            k += 1;
        }
    }
    if *eob_run > 0 {
        while k <= scan.se {
            let coefficient = &mut block[NATURAL[k]];
            if *coefficient != 0 {
                refine(reader, coefficient, p1, m1);
            }
            k += 1;
        }
        *eob_run -= 1;
    }
    Ok(())
}
