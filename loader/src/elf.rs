//! Reading a library file before it is mapped.
//!
//! Threat model: whatever lies in a plugin directory is loaded by every
//! command, `proctor plugins` included. Mapping a file is not harmless:
//! `dlopen` runs a library's constructors before anyone can ask what it is,
//! and touching a page of a segment that lies past the end of a truncated
//! file (an interrupted copy) raises SIGBUS in the host. So the file is
//! read first, through its headers only (debug builds run to tens of
//! megabytes), and refused unless it is a shared library for this machine
//! whose segments lie inside the file and which exports the root module
//! every proctor plugin library has. Such a library still runs its
//! constructors when mapped: that is what running a plugin in a process of
//! its own is for.

use std::fs::File;
use std::path::Path;

use abi_stable::library::ROOT_MODULE_LOADER_NAME;
use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader, Sym};
use object::read::ReadCache;
use object::{Architecture, Endianness, Object, ObjectKind, ObjectSymbol};

/// The machine this loader was built for, as `object` names it.
const HOST_ARCHITECTURE: Architecture = if cfg!(target_arch = "x86_64") {
    Architecture::X86_64
} else if cfg!(target_arch = "aarch64") {
    Architecture::Aarch64
} else if cfg!(target_arch = "riscv64") {
    Architecture::Riscv64
} else {
    Architecture::Unknown
};

/// The same, as an ELF header's `e_machine` says it.
const HOST_MACHINE: Option<u16> = if cfg!(target_arch = "x86_64") {
    Some(elf::EM_X86_64)
} else if cfg!(target_arch = "aarch64") {
    Some(elf::EM_AARCH64)
} else if cfg!(target_arch = "riscv64") {
    Some(elf::EM_RISCV)
} else {
    None
};

/// Why a file is not a library this host may map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmappable {
    /// It cannot be read, or is no object file of any kind.
    #[error("{0}")]
    Unreadable(String),
    /// An object file, but not a shared library.
    #[error("it is {0}, not a shared library")]
    NotShared(&'static str),
    /// Built for another machine.
    #[error("it was built for {library:?}; this host is {host:?}")]
    ForeignMachine {
        library: Architecture,
        host: Architecture,
    },
    /// Its header describes more bytes than the file has: a segment past
    /// the end would fault when touched.
    #[error("it is truncated: its header describes {end} bytes, the file has {len}")]
    Truncated { end: u64, len: u64 },
    /// A shared library, but not one built with proctor's SDK.
    #[error("it exports no proctor root module (`{ROOT_MODULE_LOADER_NAME}`)")]
    NoRootModule,
}

/// Checks that `path` can be mapped without faulting and is a proctor
/// plugin library for this machine. Reads its headers, never maps it.
pub fn check(path: &Path) -> Result<(), Unmappable> {
    let file = File::open(path).map_err(|e| Unmappable::Unreadable(e.to_string()))?;
    let len = file
        .metadata()
        .map_err(|e| Unmappable::Unreadable(e.to_string()))?
        .len();
    let cache = ReadCache::new(file);
    // Before parsing: a cut file has lost its section headers (kept at the
    // end) too, and "truncated" says more than "unparsable".
    if let Some(end) = described_length(&cache) {
        if end > len {
            return Err(Unmappable::Truncated { end, len });
        }
    }
    if let Some(exported) = exports_root_module_if_ours(&cache) {
        return exported.then_some(()).ok_or(Unmappable::NoRootModule);
    }
    let object = object::File::parse(&cache)
        .map_err(|e| Unmappable::Unreadable(format!("not an object file this host reads: {e}")))?;
    match object.kind() {
        ObjectKind::Dynamic => {}
        ObjectKind::Executable => return Err(Unmappable::NotShared("an executable")),
        ObjectKind::Relocatable => return Err(Unmappable::NotShared("a relocatable object")),
        ObjectKind::Core => return Err(Unmappable::NotShared("a core dump")),
        _ => return Err(Unmappable::NotShared("an object of unknown kind")),
    }
    if object.architecture() != HOST_ARCHITECTURE
        || object.is_64() != cfg!(target_pointer_width = "64")
    {
        return Err(Unmappable::ForeignMachine {
            library: object.architecture(),
            host: HOST_ARCHITECTURE,
        });
    }
    let exported = object.dynamic_symbols().any(|symbol| {
        symbol.is_global()
            && !symbol.is_undefined()
            && symbol.name_bytes() == Ok(ROOT_MODULE_LOADER_NAME.as_bytes())
    });
    if !exported {
        return Err(Unmappable::NoRootModule);
    }
    Ok(())
}

/// Whether a 64-bit shared library for this machine exports the root
/// module, read from its header and dynamic symbols alone; `None` for any
/// other file, which is parsed whole for the refusal that says what it is.
/// Parsing a library whole reads its full symbol table too: a quarter of a
/// megabyte for a plugin built with symbols, 0.18 ms of each run.
fn exports_root_module_if_ours(data: &ReadCache<File>) -> Option<bool> {
    let header = FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let ours = cfg!(target_pointer_width = "64")
        && header.e_type(endian) == elf::ET_DYN
        && Some(header.e_machine(endian)) == HOST_MACHINE;
    if !ours {
        return None;
    }
    let sections = header.sections(endian, data).ok()?;
    let symbols = sections.symbols(endian, data, elf::SHT_DYNSYM).ok()?;
    Some(symbols.iter().any(|symbol| {
        symbol.st_bind() != elf::STB_LOCAL
            && symbol.st_shndx(endian) != elf::SHN_UNDEF
            && symbol.name(endian, symbols.strings()) == Ok(ROOT_MODULE_LOADER_NAME.as_bytes())
    }))
}

/// How long a 64-bit ELF file must be for what its header describes: its
/// segments and its section header table. `None` when the header cannot
/// be read.
fn described_length(data: &ReadCache<File>) -> Option<u64> {
    let header = FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let section_table = header
        .e_shoff(endian)
        .saturating_add(u64::from(header.e_shnum(endian)) * u64::from(header.e_shentsize(endian)));
    let segments = header.program_headers(endian, data).ok()?;
    let segments = segments.iter().map(|segment| {
        segment
            .p_offset(endian)
            .saturating_add(segment.p_filesz(endian))
    });
    segments.chain([section_table]).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared library of this machine that is no proctor plugin: the C
    /// library the test itself runs with.
    fn libc_path() -> std::path::PathBuf {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| path.contains("/libc.so") || path.contains("/libc-"))
            .expect("the tests run with a shared C library");
        path.into()
    }

    fn scratch(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".so").tempfile().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        file
    }

    #[test]
    fn a_text_file_is_unreadable() {
        let file = scratch(b"plain text");
        assert!(matches!(check(file.path()), Err(Unmappable::Unreadable(_))));
    }

    #[test]
    fn a_shared_library_without_the_root_module_is_refused() {
        assert_eq!(check(&libc_path()), Err(Unmappable::NoRootModule));
    }

    #[test]
    fn a_truncated_library_is_refused_before_it_can_fault() {
        let bytes = std::fs::read(libc_path()).unwrap();
        let cut = scratch(&bytes[..bytes.len() / 2]);
        match check(cut.path()) {
            Err(Unmappable::Truncated { end, len }) => {
                assert_eq!(len, (bytes.len() / 2) as u64);
                assert!(end > len);
            }
            other => panic!("a truncated library was not refused as such: {other:?}"),
        }
    }

    #[test]
    fn a_library_for_another_machine_is_refused_naming_both() {
        let mut bytes = std::fs::read(libc_path()).unwrap();
        // e_machine, at byte 18 of the ELF header: another machine's.
        let other: u16 = if cfg!(target_arch = "aarch64") {
            62
        } else {
            183
        };
        bytes[18..20].copy_from_slice(&other.to_le_bytes());
        let foreign = scratch(&bytes);
        let error = check(foreign.path()).unwrap_err();
        assert!(
            matches!(error, Unmappable::ForeignMachine { host, .. } if host == HOST_ARCHITECTURE),
            "{error:?}"
        );
        assert!(error
            .to_string()
            .ends_with(&format!("this host is {HOST_ARCHITECTURE:?}")));
    }

    #[test]
    fn an_object_file_that_is_no_shared_library_is_refused() {
        let mut bytes = std::fs::read(libc_path()).unwrap();
        // e_type, at byte 16: a relocatable object.
        bytes[16..18].copy_from_slice(&1u16.to_le_bytes());
        let relocatable = scratch(&bytes);
        assert_eq!(
            check(relocatable.path()),
            Err(Unmappable::NotShared("a relocatable object"))
        );
    }
}
