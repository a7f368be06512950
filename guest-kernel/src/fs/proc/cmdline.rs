//! `/proc/cmdline` (Linux's fs/proc/cmdline.c): the boot command line and a newline.

use alloc::string::String;

pub fn cmdline_format(saved_command_line: &str) -> String {
    let mut s = String::with_capacity(saved_command_line.len() + 1);
    s.push_str(saved_command_line);
    s.push('\n');
    s
}

/// `/proc/cmdline`.
pub fn cmdline_proc_show() -> String {
    cmdline_format(crate::kernel::cmdline::saved_command_line())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_newline() {
        assert_eq!(
            cmdline_format("console=hvc0 virtio_mmio.device=4K@0xd0000000:5"),
            "console=hvc0 virtio_mmio.device=4K@0xd0000000:5\n"
        );
        assert_eq!(cmdline_format(""), "\n");
    }
}
