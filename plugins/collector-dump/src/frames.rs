//! A thread's frames, unwound from a minidump: its registers and stack from
//! the dump, and the unwind tables (`.eh_frame`) of the modules its stack
//! points into, read from the files on this machine, which are the ones the
//! process ran (the dump is taken here, while it still runs).
//!
//! Frames that the unwind tables do not cover fall back to frame pointers;
//! where those fail too, the walk stops, shorter rather than guessed.

use std::ops::Range;

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, Module as UnwindModule, Unwinder};
use minidump::{MinidumpContext, MinidumpModule, MinidumpModuleList, Module, UnifiedMemory};
use object::{Object, ObjectSection, ObjectSegment};

/// At most this many frames are walked.
const MAX_FRAMES: usize = 16;

/// The addresses of a thread's frames, innermost first: its instruction
/// pointer, then each caller's return address less one (inside the call).
///
/// `read_stack` reads memory beyond the thread's stack in the dump: a
/// handler may run on an alternate signal stack, and the frames it
/// interrupted lie on the thread's own.
pub fn unwind(
    context: &MinidumpContext,
    stack: Option<&UnifiedMemory>,
    modules: &MinidumpModuleList,
) -> Vec<u64> {
    let pc = context.get_instruction_pointer();
    let (Some(sp), Some(bp), Some(stack)) = (
        context.get_register("rsp"),
        context.get_register("rbp"),
        stack,
    ) else {
        // Only x86_64 is unwound; elsewhere the top frame stands alone.
        return vec![pc];
    };
    let mut unwinder = UnwinderX86_64::<Vec<u8>>::new();
    for module in touched_modules(pc, stack, modules) {
        if let Some(module) = unwind_module(module) {
            unwinder.add_module(module);
        }
    }
    let mut cache = CacheX86_64::<_>::new();
    let mut read_stack = |address| stack.get_memory_at_address::<u64>(address).ok_or(());
    let regs = UnwindRegsX86_64::new(pc, sp, bp);
    let mut frames = unwinder.iter_frames(pc, regs, &mut cache, &mut read_stack);
    let mut addresses = Vec::new();
    while let Ok(Some(frame)) = frames.next() {
        addresses.push(frame.address_for_lookup());
        if addresses.len() == MAX_FRAMES {
            break;
        }
    }
    if addresses.is_empty() {
        addresses.push(pc);
    }
    addresses
}

/// The modules holding `pc` or a value on the stack: the only ones a walk
/// can enter, and so the only files read.
fn touched_modules<'m>(
    pc: u64,
    stack: &UnifiedMemory,
    modules: &'m MinidumpModuleList,
) -> Vec<&'m MinidumpModule> {
    let mut touched: Vec<&MinidumpModule> = Vec::new();
    let words = stack.bytes().chunks_exact(8);
    let values = words.map(|word| u64::from_le_bytes(word.try_into().expect("eight bytes")));
    for value in std::iter::once(pc).chain(values) {
        if let Some(module) = modules.module_at_address(value) {
            if !touched
                .iter()
                .any(|m| m.base_address() == module.base_address())
            {
                touched.push(module);
            }
        }
    }
    touched
}

/// A module's unwind tables, from its file, placed where the dump says it
/// was loaded.
fn unwind_module(module: &MinidumpModule) -> Option<UnwindModule<Vec<u8>>> {
    let path = module.code_file();
    let data = std::fs::read(path.as_ref()).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let section = |name: &str| -> (Option<Range<u64>>, Option<Vec<u8>>) {
        match file.section_by_name(name) {
            Some(s) => (
                Some(s.address()..s.address() + s.size()),
                s.data().ok().map(<[u8]>::to_vec),
            ),
            None => (None, None),
        }
    };
    let (eh_frame_svma, eh_frame) = section(".eh_frame");
    let (eh_frame_hdr_svma, eh_frame_hdr) = section(".eh_frame_hdr");
    let (text_svma, _) = section(".text");
    // The dump's base is where the first loadable segment was mapped.
    let first_segment = file.segments().map(|s| s.address()).min()? & !0xfff;
    let base = module.base_address();
    let info = ExplicitModuleSectionInfo {
        base_svma: 0,
        text_svma,
        eh_frame_svma,
        eh_frame,
        eh_frame_hdr_svma,
        eh_frame_hdr,
        ..Default::default()
    };
    Some(UnwindModule::new(
        path.into_owned(),
        base..base + module.size(),
        base.checked_sub(first_segment)?,
        info,
    ))
}
