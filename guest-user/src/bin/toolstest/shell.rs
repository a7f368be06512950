//! Checks of `sh` as scripts use it: each case runs `/bin/sh -c SCRIPT` (in a scratch
//! directory) and compares its stdout and exit status with what a POSIX shell (dash, bash
//! --posix) gives for the same script.

use guest_user::check::{pass, Check, Fail};

use crate::{run, scratch};

/// Run each `(script, stdout)` with `sh -c` in `dir`; all must print exactly `stdout` and
/// exit 0.
fn cases(dir: &str, cases: &[(&str, &str)]) -> Result<(), Fail> {
    for (script, want) in cases {
        let o = run(&["/bin/sh", "-c", &format!("cd {dir} || exit 99\n{script}")])?;
        if o.out != *want || o.code != 0 {
            return Err(Fail(format!(
                "sh -c {script:?}: printed {:?} (stderr {:?}) and exited {}, want {want:?} and 0",
                o.out, o.err, o.code
            )));
        }
    }
    Ok(())
}

fn files(dir: &str, paths: &[&str]) -> Result<(), Fail> {
    for p in paths {
        let path = format!("{dir}/{p}");
        if let Some((parent, _)) = path.rsplit_once('/') {
            std::fs::create_dir_all(parent).map_err(|e| Fail(format!("mkdir {parent}: {e}")))?;
        }
        std::fs::write(&path, "").map_err(|e| Fail(format!("create {path}: {e}")))?;
    }
    Ok(())
}

pub fn glob() -> Check {
    let dir = scratch("sh_glob")?;
    files(
        &dir,
        &[
            "a.txt", "b.txt", "c.rs", ".hidden", "sub/x", "sub2/x", "sub2/y",
        ],
    )?;
    cases(
        &dir,
        &[
            ("echo *", "a.txt b.txt c.rs sub sub2\n"),
            ("echo *.txt", "a.txt b.txt\n"),
            ("echo '*.txt' \"*\".txt \\*.txt", "*.txt *.txt *.txt\n"),
            ("echo *.none x?y", "*.none x?y\n"),
            ("echo .h* *hidden", ".hidden *hidden\n"),
            ("echo */x", "sub/x sub2/x\n"),
            (
                "echo [ab].txt [!a].txt [^ab]*",
                "a.txt b.txt b.txt c.rs sub sub2\n",
            ),
            ("echo sub?/[x-y] sub*/", "sub2/x sub2/y sub/ sub2/\n"),
            ("echo /bin/s?", "/bin/sh\n"),
            (&format!("echo {dir}/*.rs"), &format!("{dir}/c.rs\n")),
            ("x='*.txt'; echo $x \"$x\"", "a.txt b.txt *.txt\n"),
            ("IFS=:; x='a:b::c'; echo $x", "a b  c\n"),
        ],
    )?;
    pass()
}
