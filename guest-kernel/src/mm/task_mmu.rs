//! `/proc/<pid>/maps` and the memory lines of `/proc/<pid>/status`, in Linux's formats
//! (fs/proc/task_mmu.c: `show_map_vma`, `task_mem`).

#![deny(unsafe_code)]

use alloc::string::String;
use core::fmt::Write;

use super::mmap::{MmStruct, MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS, PAGE};
use super::vma::{Vma, VM_EXEC, VM_MAYSHARE, VM_READ, VM_WRITE};

/// Where the name column starts: `seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)`, then one
/// more space.
const MAPS_NAME_PAD: usize = 25 + 8 * 6 - 1;
/// Device of the internal shmem mount that backs shared anonymous memory.
const SHMEM_DEV: (u32, u32) = (0, 1);

/// One line of /proc/<pid>/maps (`show_map_vma`).
pub fn show_map_vma(out: &mut String, v: &Vma, name: Option<&str>) {
    let line = out.len();
    let (pgoff, (major, minor), ino) = match (&v.file, &v.image) {
        (Some(f), _) => (v.pgoff.wrapping_mul(PAGE), SHMEM_DEV, f.ino),
        (None, Some(image)) => {
            let dev = image.inode.sb.dev;
            let dev = (crate::fs::inode::major(dev), crate::fs::inode::minor(dev));
            (v.pgoff.wrapping_mul(PAGE), dev, image.inode.ino)
        }
        (None, None) => (0, (0, 0), 0),
    };
    let flag = |bit, c| if v.flags & bit != 0 { c } else { '-' };
    let _ = write!(
        out,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        v.start,
        v.end,
        flag(VM_READ, 'r'),
        flag(VM_WRITE, 'w'),
        flag(VM_EXEC, 'x'),
        if v.flags & VM_MAYSHARE != 0 { 's' } else { 'p' },
        pgoff,
        major,
        minor,
        ino
    );
    if let Some(name) = name {
        let used = out.len() - line;
        for _ in used..MAPS_NAME_PAD {
            out.push(' ');
        }
        out.push(' ');
        out.push_str(name);
    }
    out.push('\n');
}

/// The numbers behind the memory lines of /proc/<pid>/status, in pages (code sizes in bytes).
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskMem {
    pub hiwater_vm: u64,
    pub total_vm: u64,
    pub locked_vm: u64,
    pub pinned_vm: u64,
    pub hiwater_rss: u64,
    pub anon: u64,
    pub file: u64,
    pub shmem: u64,
    pub data_vm: u64,
    pub stack_vm: u64,
    pub exec_vm: u64,
    /// `PAGE_ALIGN(end_code) - (start_code & PAGE_MASK)`, bytes.
    pub text_bytes: u64,
    pub pgtables_bytes: u64,
    pub swap: u64,
}

/// The Vm*/Rss* lines of /proc/<pid>/status (`task_mem`): `Name:\t` and the size in kB,
/// right-aligned in 8 columns.
pub fn task_mem(out: &mut String, m: &TaskMem) {
    let kb = |pages: u64| pages * (PAGE / 1024);
    let total_rss = m.anon + m.file + m.shmem;
    // Split executable memory between the program's text and the rest (libraries).
    let text = m.text_bytes.min(m.exec_vm * PAGE);
    let lib = m.exec_vm * PAGE - text;
    let lines = [
        ("VmPeak", kb(m.hiwater_vm.max(m.total_vm))),
        ("VmSize", kb(m.total_vm)),
        ("VmLck", kb(m.locked_vm)),
        ("VmPin", kb(m.pinned_vm)),
        ("VmHWM", kb(m.hiwater_rss.max(total_rss))),
        ("VmRSS", kb(total_rss)),
        ("RssAnon", kb(m.anon)),
        ("RssFile", kb(m.file)),
        ("RssShmem", kb(m.shmem)),
        ("VmData", kb(m.data_vm)),
        ("VmStk", kb(m.stack_vm)),
        ("VmExe", text >> 10),
        ("VmLib", lib >> 10),
        ("VmPTE", m.pgtables_bytes >> 10),
        ("VmSwap", kb(m.swap)),
        ("HugetlbPages", 0),
    ];
    for (name, value) in lines {
        let _ = writeln!(out, "{name}:\t{value:>8} kB");
    }
}

impl MmStruct {
    /// `/proc/<pid>/maps`: one line per VMA in Linux's format, `[heap]` and `[stack]` named
    /// as Linux names them, shared memory by its file (`/dev/zero (deleted)`,
    /// `/SYSV<key> (deleted)`), file mappings (the program's segments, mmap'd files) by
    /// their path as a reader with root `root` sees it (Linux's `d_path`).
    pub fn proc_maps(&self, out: &mut String, root: Option<&crate::fs::namespace::Path>) {
        for v in self.vmas.iter() {
            let file_name = match (&v.file, v.image.as_ref().and_then(|i| i.path.as_ref())) {
                (Some(f), _) => Some(f.name()),
                (None, Some(p)) => root.map(|root| crate::fs::namespace::d_path(p, root)),
                (None, None) => None,
            };
            let name = if file_name.is_some() {
                file_name.as_deref()
            } else if v.start <= self.brk && v.end >= self.start_brk {
                Some("[heap]")
            } else if v.start <= self.start_stack && v.end >= self.start_stack {
                Some("[stack]")
            } else {
                None
            };
            show_map_vma(out, v, name);
        }
    }

    /// The numbers of /proc/<pid>/status's memory lines.
    pub fn task_mem(&self) -> TaskMem {
        let text_end = super::mmap::page_align_up(self.end_code).unwrap_or(self.end_code);
        TaskMem {
            hiwater_vm: self.vmas.hiwater_vm,
            total_vm: self.vmas.total_vm,
            locked_vm: self.vmas.locked_vm,
            pinned_vm: 0,
            hiwater_rss: self.hiwater_rss,
            anon: self.get_mm_counter(MM_ANONPAGES),
            file: self.get_mm_counter(MM_FILEPAGES),
            shmem: self.get_mm_counter(MM_SHMEMPAGES),
            data_vm: self.vmas.data_vm,
            stack_vm: self.vmas.stack_vm,
            exec_vm: self.vmas.exec_vm,
            text_bytes: text_end.saturating_sub(self.start_code & !(PAGE - 1)),
            pgtables_bytes: self.pgd.nr_pgtables() * PAGE,
            swap: self.get_mm_counter(MM_SWAPENTS),
        }
    }

    /// The VmPeak … VmSwap (and HugetlbPages) lines of `/proc/<pid>/status`.
    #[allow(dead_code)] // until procfs calls it
    pub fn proc_status_vm(&self, out: &mut String) {
        task_mem(out, &self.task_mem());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::shmem::ShmemFile;
    use crate::mm::vma::{VM_GROWSDOWN, VM_MAYREAD, VM_MAYWRITE, VM_SHARED};

    #[test]
    fn maps_lines_match_linux_columns() {
        let mut out = String::new();
        let code = Vma::anon(0x400000, 0x452000, VM_READ | VM_EXEC);
        show_map_vma(&mut out, &code, None);
        let stack = Vma::anon(
            0x7ffd6c5f1000,
            0x7ffd6c612000,
            VM_READ | VM_WRITE | VM_GROWSDOWN,
        );
        show_map_vma(&mut out, &stack, Some("[stack]"));
        let file = ShmemFile::new();
        let shared = Vma {
            start: 0x7f0000000000,
            end: 0x7f0000002000,
            flags: VM_READ | VM_WRITE | VM_SHARED | VM_MAYSHARE | VM_MAYREAD | VM_MAYWRITE,
            pgoff: 1,
            file: Some(file.clone()),
            image: None,
        };
        show_map_vma(&mut out, &shared, Some("/dev/zero (deleted)"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "00400000-00452000 r-xp 00000000 00:00 0 ");
        assert_eq!(
            lines[1],
            format!(
                "7ffd6c5f1000-7ffd6c612000 rw-p 00000000 00:00 0{}[stack]",
                " ".repeat(26)
            )
        );
        assert_eq!(lines[1].find('[').unwrap(), 73);
        let ino = file.ino.to_string();
        assert_eq!(
            lines[2],
            format!(
                "7f0000000000-7f0000002000 rw-s 00001000 00:01 {ino}{}/dev/zero (deleted)",
                " ".repeat(73 - 46 - ino.len())
            )
        );
    }

    #[test]
    fn status_lines_match_linux_format() {
        let m = TaskMem {
            hiwater_vm: 3000,
            total_vm: 2500,
            hiwater_rss: 40,
            anon: 25,
            file: 0,
            shmem: 5,
            data_vm: 100,
            stack_vm: 33,
            exec_vm: 200,
            text_bytes: 0x52000,
            pgtables_bytes: 3 * 4096,
            ..Default::default()
        };
        let mut out = String::new();
        task_mem(&mut out, &m);
        let want = "VmPeak:\t   12000 kB\nVmSize:\t   10000 kB\nVmLck:\t       0 kB\n\
                    VmPin:\t       0 kB\nVmHWM:\t     160 kB\nVmRSS:\t     120 kB\n\
                    RssAnon:\t     100 kB\nRssFile:\t       0 kB\nRssShmem:\t      20 kB\n\
                    VmData:\t     400 kB\nVmStk:\t     132 kB\nVmExe:\t     328 kB\n\
                    VmLib:\t     472 kB\nVmPTE:\t      12 kB\nVmSwap:\t       0 kB\n\
                    HugetlbPages:\t       0 kB\n";
        assert_eq!(out, want);
    }
}
