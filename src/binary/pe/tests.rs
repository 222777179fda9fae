use super::*;

/// A minimal, valid PE32+ image built by hand: one `.rdata` section that
/// holds one import descriptor naming `foo.dll`.
fn tiny() -> Vec<u8> {
    let mut d = vec![0u8; 0x400];
    d[0] = b'M';
    d[1] = b'Z';
    d[0x3c] = 0x40;
    d[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    d[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
    d[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
    d[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
    let o = coff + 20;
    d[o..o + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    d[o + 24..o + 32].copy_from_slice(&0x1_8000_0000u64.to_le_bytes());
    d[o + 32..o + 36].copy_from_slice(&0x1000u32.to_le_bytes());
    d[o + 36..o + 40].copy_from_slice(&0x200u32.to_le_bytes());
    d[o + 56..o + 60].copy_from_slice(&0x2000u32.to_le_bytes());
    d[o + 60..o + 64].copy_from_slice(&0x200u32.to_le_bytes());
    d[o + 108..o + 112].copy_from_slice(&16u32.to_le_bytes());
    // import directory at RVA 0x1000
    d[o + 112 + 8..o + 112 + 12].copy_from_slice(&0x1000u32.to_le_bytes());
    d[o + 112 + 12..o + 112 + 16].copy_from_slice(&40u32.to_le_bytes());
    let sh = o + 240;
    d[sh..sh + 6].copy_from_slice(b".rdata");
    d[sh + 8..sh + 12].copy_from_slice(&0x40u32.to_le_bytes());
    d[sh + 12..sh + 16].copy_from_slice(&0x1000u32.to_le_bytes());
    d[sh + 16..sh + 20].copy_from_slice(&0x200u32.to_le_bytes());
    d[sh + 20..sh + 24].copy_from_slice(&0x200u32.to_le_bytes());
    d[sh + 36..sh + 40].copy_from_slice(&0x4000_0040u32.to_le_bytes());
    // descriptor: name at RVA 0x1028, first thunk 0x1030
    d[0x200 + 12..0x200 + 16].copy_from_slice(&0x1028u32.to_le_bytes());
    d[0x200 + 16..0x200 + 20].copy_from_slice(&0x1030u32.to_le_bytes());
    d[0x228..0x22f].copy_from_slice(b"foo.dll");
    d
}

#[test]
fn tiny_image_parses() {
    let info = parse(&tiny()).unwrap();
    assert_eq!(info.machine, 0x8664);
    assert!(info.is_64);
    assert_eq!(info.imports, vec!["foo.dll"]);
    assert!(info.delay_imports.is_empty());
    assert_eq!(info.overlay_len, 0);
    assert!(!info.signed);
}

fn expect_err(data: &[u8], needle: &str) {
    match parse(data) {
        Ok(info) => panic!("expected an error containing `{needle}`, got {info:?}"),
        Err(e) => assert!(e.0.contains(needle), "error `{e}` does not contain `{needle}`"),
    }
}

#[test]
fn hostile_headers_are_errors() {
    expect_err(b"MZ", "truncated");
    let mut d = tiny();
    d[0x3c..0x40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    expect_err(&d, "no PE signature");
    let mut d = tiny();
    d[0x58..0x5a].copy_from_slice(&0x999u16.to_le_bytes());
    expect_err(&d, "magic");
    // huge section count
    let mut d = tiny();
    d[0x46..0x48].copy_from_slice(&0xffffu16.to_le_bytes());
    expect_err(&d, "section table");
    // section raw data past the end of the file
    let mut d = tiny();
    let sh = 0x58 + 240;
    d[sh + 16..sh + 20].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    expect_err(&d, "past the end");
    // optional header size larger than the file
    let mut d = tiny();
    d[0x54..0x56].copy_from_slice(&0xfff0u16.to_le_bytes());
    expect_err(&d, "optional header");
    // truncated anywhere: never a panic
    let d = tiny();
    for len in 0..d.len() {
        let _ = parse(&d[..len]);
    }
}

#[test]
fn hostile_imports_are_errors() {
    // import directory RVA outside every section
    let mut d = tiny();
    let dir = 0x58 + 112 + 8;
    d[dir..dir + 4].copy_from_slice(&0x9999_0000u32.to_le_bytes());
    expect_err(&d, "outside the image data");
    // name RVA bogus
    let mut d = tiny();
    d[0x20c..0x210].copy_from_slice(&0xdead_beefu32.to_le_bytes());
    expect_err(&d, "outside the image data");
    // name without NUL: fill the rest of the section
    let mut d = tiny();
    for b in &mut d[0x228..0x240] {
        *b = b'a';
    }
    let sh = 0x58 + 240;
    d[sh + 8..sh + 12].copy_from_slice(&0x40u32.to_le_bytes());
    expect_err(&d, "not NUL-terminated");
    // no terminating descriptor: descriptors filling the whole section
    let mut d = tiny();
    for k in 0..(0x200 / 20) {
        let at = 0x200 + k * 20;
        d[at + 12..at + 16].copy_from_slice(&0x1028u32.to_le_bytes());
        d[at + 16..at + 20].copy_from_slice(&0x1030u32.to_le_bytes());
    }
    d[sh + 8..sh + 12].copy_from_slice(&0x200u32.to_le_bytes());
    assert!(parse(&d).is_err());
}

#[test]
fn hostile_exports_and_delay_imports_are_errors() {
    // export directory with a huge name count
    let mut d = tiny();
    let dir = 0x58 + 112;
    d[dir..dir + 4].copy_from_slice(&0x1100u32.to_le_bytes());
    d[0x300 + 24..0x300 + 28].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
    d[0x300 + 32..0x300 + 36].copy_from_slice(&0x1140u32.to_le_bytes());
    let sh = 0x58 + 240;
    d[sh + 8..sh + 12].copy_from_slice(&0x200u32.to_le_bytes());
    expect_err(&d, "more than the file can hold");
    // VA-style delay descriptor whose VA is below the image base
    let mut d = tiny();
    let dir = 0x58 + 112 + 13 * 8;
    d[dir..dir + 4].copy_from_slice(&0x1100u32.to_le_bytes());
    d[0x304..0x308].copy_from_slice(&0x1028u32.to_le_bytes());
    d[sh + 8..sh + 12].copy_from_slice(&0x200u32.to_le_bytes());
    expect_err(&d, "below the image base");
    // the same descriptor with the RVA attribute reads fine
    d[0x300] = 1;
    assert_eq!(parse(&d).unwrap().delay_imports, vec!["foo.dll"]);
}

#[test]
fn checksum_of_known_bytes() {
    // words 0x0201 + 0x0403 (checksum field at 4..8 skipped) + 0x0009, plus length 9
    let data = [1u8, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 9];
    assert_eq!(checksum(&data, 4), 0x0201 + 0x0403 + 0x0009 + 9);
    // carries fold back into 16 bits
    let data = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    assert_eq!(checksum(&data, 4), 0xffff + 8);
}

#[test]
fn short_reads_name_the_missing_bytes() {
    let d = [1u8, 0, 0, 0, 2, 0];
    let msg = |r: Result<u64, ParseError>| r.unwrap_err().0;
    assert_eq!(read_u16(&d, 0), Ok(1));
    assert_eq!(msg(read_u32(&d, 4).map(u64::from)), "truncated file: 4 bytes at offset 0x4 are past the end");
    assert_eq!(msg(read_u16(&d, usize::MAX).map(u64::from)), "offset overflow");
    // a u64 is read as two u32 halves: the error names the first one missing
    assert_eq!(msg(read_u64(&d, 0)), "truncated file: 4 bytes at offset 0x4 are past the end");
    assert_eq!(msg(read_u64(&d, 3)), "truncated file: 4 bytes at offset 0x3 are past the end");
    assert_eq!(msg(read_u64(&d, usize::MAX - 1)), "offset overflow");
    assert_eq!(read_u64(&[1, 0, 0, 0, 2, 0, 0, 0], 0), Ok(0x2_0000_0001));
}
