//! Checks that a file is a bootable PVH image before QEMU is asked to boot it: QEMU's own
//! message for a file without the PVH note ("Error loading uncompressed kernel without PVH
//! ELF Note") does not say what to do.

use std::path::Path;

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the 32-bit entry point a PVH loader jumps to.
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const PT_NOTE: u32 = 4;

/// Why an image cannot be booted.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The image.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a 64-bit little-endian ELF file.
    #[error("{0} is not a 64-bit ELF image (build one with `sluice build FILE.click -o IMAGE`)")]
    NotElf(String),
    /// An ELF file without the PVH entry note.
    #[error(
        "{0} is not bootable: it has no PVH entry note (Xen note type 18); \
         build images with `sluice build`"
    )]
    NoPvhNote(String),
}

/// Checks for the PVH entry note; returns the entry address.
pub fn check_pvh(path: &Path) -> Result<u64, ImageError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ImageError::Read {
        path: name.clone(),
        source,
    })?;
    pvh_entry(&bytes).ok_or_else(|| {
        if bytes.len() >= 64 && &bytes[..4] == b"\x7fELF" && bytes[4] == 2 && bytes[5] == 1 {
            ImageError::NoPvhNote(name)
        } else {
            ImageError::NotElf(name)
        }
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The PVH entry address from the image's PT_NOTE segments, if it has one.
pub fn pvh_entry(elf: &[u8]) -> Option<u64> {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return None;
    }
    let phoff = usize::try_from(u64_at(elf, 0x20)?).ok()?;
    let phentsize = usize::from(u16_at(elf, 0x36)?);
    let phnum = usize::from(u16_at(elf, 0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(elf, ph)? != PT_NOTE {
            continue;
        }
        let offset = usize::try_from(u64_at(elf, ph + 8)?).ok()?;
        let size = usize::try_from(u64_at(elf, ph + 0x20)?).ok()?;
        let notes = elf.get(offset..offset.checked_add(size)?)?;
        if let Some(entry) = find_note(notes) {
            return Some(entry);
        }
    }
    None
}

fn find_note(mut notes: &[u8]) -> Option<u64> {
    let align4 = |n: usize| n.div_ceil(4) * 4;
    while notes.len() >= 12 {
        let namesz = usize::try_from(u32_at(notes, 0)?).ok()?;
        let descsz = usize::try_from(u32_at(notes, 4)?).ok()?;
        let kind = u32_at(notes, 8)?;
        let name = notes.get(12..12 + namesz)?;
        let desc_at = 12 + align4(namesz);
        let desc = notes.get(desc_at..desc_at + descsz)?;
        if name == b"Xen\0" && kind == XEN_ELFNOTE_PHYS32_ENTRY {
            return match desc.len() {
                4 => Some(u64::from(u32_at(desc, 0)?)),
                8 => u64_at(desc, 0),
                _ => None,
            };
        }
        notes = notes.get(desc_at + align4(descsz)..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with one PT_NOTE segment holding `note`.
    fn elf_with_note(note: &[u8]) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&PT_NOTE.to_le_bytes());
        elf[64 + 8..64 + 16].copy_from_slice(&120u64.to_le_bytes());
        elf[64 + 0x20..64 + 0x28].copy_from_slice(&(note.len() as u64).to_le_bytes());
        elf.extend_from_slice(note);
        elf
    }

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name);
        n.resize(n.len().div_ceil(4) * 4, 0);
        n.extend_from_slice(desc);
        n
    }

    #[test]
    fn finds_the_pvh_entry_note() {
        let elf = elf_with_note(&note(b"Xen\0", 18, &0x10_0000u64.to_le_bytes()));
        assert_eq!(pvh_entry(&elf), Some(0x10_0000));
    }

    #[test]
    fn skips_other_notes() {
        let mut notes = note(b"GNU\0", 3, &[1, 2, 3, 4]);
        notes.extend(note(b"Xen\0", 18, &0x20_0000u32.to_le_bytes()));
        assert_eq!(pvh_entry(&elf_with_note(&notes)), Some(0x20_0000));
    }

    #[test]
    fn rejects_images_without_it_and_garbage() {
        let elf = elf_with_note(&note(b"GNU\0", 3, &[0; 4]));
        assert_eq!(pvh_entry(&elf), None);
        assert_eq!(pvh_entry(b"not an elf at all"), None);
        let mut truncated = elf_with_note(&note(b"Xen\0", 18, &[0; 8]));
        truncated.truncate(130);
        assert_eq!(pvh_entry(&truncated), None);
    }
}
