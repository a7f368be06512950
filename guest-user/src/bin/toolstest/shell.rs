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

pub fn subst_arith() -> Check {
    let dir = scratch("sh_subst")?;
    cases(
        &dir,
        &[
            ("echo $(echo a b | wc -w)", "2\n"),
            ("x=$(echo a; echo; echo); echo \"[$x]\"", "[a]\n"),
            (
                "v=$(echo '  a   b  '); echo [$v] \"[$v]\"",
                "[ a b ] [  a   b  ]\n",
            ),
            ("echo `echo hi \\`echo there\\``", "hi there\n"),
            (
                "echo \"$(echo \"in (quotes)\")\" $(echo $(echo nested))",
                "in (quotes) nested\n",
            ),
            ("y=$(exit 3); echo $?", "3\n"),
            ("touch f1 f2; echo $(echo f*)", "f1 f2\n"),
            (
                "echo $((3*4+1)) $(( (1+2)*3 )) $((7/2)) $((7%3)) $((-5+2)) $((2<3)) $((2>=3))",
                "13 9 3 1 -3 1 0\n",
            ),
            (
                "i=5; echo $((i*i)) $(($i+1)) $((i+=1)) $i $((i>5 ? 10 : 20))",
                "25 6 6 6 10\n",
            ),
            (
                "echo $((0x10 + 010)) $((1 << 4 | 1)) $((!0 && 3))",
                "24 17 1\n",
            ),
            (
                "echo ${z:-def} ${z-unset} ${z:=new} $z ${z:+alt}",
                "def unset new new alt\n",
            ),
            (
                "f=a/b/c.tar.gz; echo ${f##*/} ${f#*/} ${f%.*} ${f%%.*} ${#f}",
                "c.tar.gz b/c.tar.gz a/b/c.tar a/b/c 12\n",
            ),
        ],
    )?;
    let o = run(&["/bin/sh", "-c", "echo $((1/0)); echo not reached"])?;
    if o.code != 2 || !o.out.is_empty() || !o.err.contains("division by zero") {
        return Err(Fail(format!(
            "$((1/0)): {:?} {:?} exit {}",
            o.out, o.err, o.code
        )));
    }
    pass()
}

pub fn control_flow() -> Check {
    let dir = scratch("sh_control")?;
    cases(
        &dir,
        &[
            ("for i in 1 2 3; do echo $((i*i)); done", "1\n4\n9\n"),
            ("if [ -d /proc ]; then echo dir; else echo none; fi", "dir\n"),
            ("if false; then echo a; elif true; then echo b; else echo c; fi", "b\n"),
            ("if ! test -e /nonexistent; then echo missing; fi", "missing\n"),
            (
                "f() { echo \"$# $1 [$2] [$*]\"; return 3; }\nf x 'y z'; echo st=$?",
                "2 x [y z] [x y z]\nst=3\n",
            ),
            ("g() { local v=in; echo $v; }; v=out; g; echo $v", "in\nout\n"),
            (
                "fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1-1))) )); fi; }; fact 5",
                "120\n",
            ),
            (
                "for f in a.c b.h c.txt; do case $f in *.c|*.h) echo \"$f: C\";; (*) echo \"$f: other\";; esac; done",
                "a.c: C\nb.h: C\nc.txt: other\n",
            ),
            ("case '*' in \\*) echo star;; *) echo any;; esac", "star\n"),
            ("i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i", "3\n"),
            ("k=; until [ \"$k\" = xxx ]; do k=${k}x; done; echo $k", "xxx\n"),
            (
                "for a in 1 2; do for b in x y z; do [ $b = y ] && continue 2; echo $a$b; done; done",
                "1x\n2x\n",
            ),
            ("n=0; while :; do n=$((n+1)); [ $n = 4 ] && break; done; echo $n", "4\n"),
            ("{ echo one; echo two; } | wc -l", "2\n"),
            ("x=1; (x=2; echo $x); echo $x", "2\n1\n"),
            ("! false && echo negated; ! true || echo again", "negated\nagain\n"),
            ("set -- p q r; echo $# $2; shift; echo $# \"$@\"", "3 q\n2 q r\n"),
            ("for a; do echo $a; done; set -- 1 '2 3'; for a; do echo \"<$a>\"; done", "<1>\n<2 3>\n"),
            (
                "if true\nthen\n  echo multi\nfi\nwhile false\ndo\n  :\ndone\necho end",
                "multi\nend\n",
            ),
            ("{ echo out; echo err >&2; } 2>/dev/null > f; cat f", "out\n"),
            ("set -e; false || true; if false; then :; fi; ! true; echo alive", "alive\n"),
        ],
    )?;
    let o = run(&["/bin/sh", "-c", "set -e; false; echo no"])?;
    let e = run(&["/bin/sh", "-c", "if true; then echo a; fi; fi"])?;
    if o.code != 1 || !o.out.is_empty() || e.code != 2 || !e.err.contains("syntax error") {
        return Err(Fail(format!(
            "set -e gave {:?} exit {}; a stray fi gave {:?} exit {}",
            o.out, o.code, e.err, e.code
        )));
    }
    pass()
}

pub fn builtins() -> Check {
    let dir = scratch("sh_builtins")?;
    cases(
        &dir,
        &[
            (
                "echo 'a b c\nd e' | while read x y; do echo \"x=$x y=$y\"; done",
                "x=a y=b c\nx=d y=e\n",
            ),
            ("echo root:x:0:0 | { IFS=: read u p id rest; echo \"$u|$p|$id|$rest\"; }", "root|x|0|0\n"),
            (
                "while IFS=: read name pw uid rest; do echo $name=$uid; done < /etc/passwd",
                "root=0\nnobody=65534\n",
            ),
            ("echo 'a\\b' > f; read -r l < f; read m < f; echo \"$l $m\"", "a\\b ab\n"),
            ("echo x | { read a b; echo \"[$a][$b]\"; read c || echo eof; }", "[x][]\neof\n"),
            (
                "echo 'greet() { echo hello $1; }; V=set; return 4; echo no' > lib.sh; . ./lib.sh; echo $?; greet you; echo $V",
                "4\nhello you\nset\n",
            ),
            ("sleep 0 & p=$!; wait $p; echo w=$?; (exit 5) & wait $!; echo w=$?", "w=0\nw=5\n"),
            ("trap 'echo bye' EXIT; echo main", "main\nbye\n"),
            ("trap 'echo got USR1' USR1; kill -USR1 $$; echo after", "got USR1\nafter\n"),
            ("trap '' INT; kill -INT $$; echo ignored", "ignored\n"),
            (
                "test 3 -lt 10 && [ abc != abd ] && [ -z '' ] && [ -n x ] && [ -f /bin/sh ] && [ -x /bin/sh ] && [ -r /etc/passwd ] && [ -w /tmp ] && [ -s /etc/passwd ] && ! [ -e /nope ] && [ ! -d /bin/sh ] && echo all",
                "all\n",
            ),
            ("[ 2 -gt 10 ] || [ a = b ] || [ -d /etc/passwd ] || echo none", "none\n"),
            ("exec echo replaced; echo no", "replaced\n"),
            ("(exec > out; echo redirected); cat out", "redirected\n"),
            ("eval 'x=5; echo $((x+1))'", "6\n"),
            ("false; echo $?; true; echo $?; :; echo $?", "1\n0\n0\n"),
        ],
    )?;
    let o = run(&["/bin/sh", "-c", "[ 1 -eq x ]; echo $?"])?;
    if o.out != "2\n" || !o.err.contains("bad number") {
        return Err(Fail(format!("[ 1 -eq x ]: {:?} {:?}", o.out, o.err)));
    }
    pass()
}

/// A script as dash runs it: a here-document (`<<-`, tabs stripped, expanded) feeding
/// `while read`, `printf` formats and its reuse for extra arguments, two here-documents on one
/// line (the quoted one unexpanded), `getopts` in silent mode, and a `readonly` assignment
/// failing with status 1 (dash would end the script there).
const HEREDOC_PRINTF_GETOPTS: &str = r#"parse() { OPTIND=1; while getopts :vn:o: f "$@"; do case $f in v) echo verbose;; n|o) echo "$f=$OPTARG";; :) echo "missing -$OPTARG";; '?') echo "bad -$OPTARG";; esac; done; shift $((OPTIND-1)); echo "operands: $*"; }
parse -vn 3 -x -ofile a b; parse -n
total=0
while read -r name qty price; do
	printf '%-6s|%3d|%6.2s|%#x\n' "$name" "$qty" "$price" "$qty"
	total=$((total + qty))
done <<-EOF
	apple 3 1.5
	pear 12 0.75
	fig $((2 * 5)) 3
	EOF
printf '%s=%05d\n' total "$total" again 7
cat <<'RAW' <<X
unused $total
RAW
$(echo used) $total \$total
X
readonly total; total=0 2>/dev/null || echo "readonly: $?"
"#;

pub fn heredoc_printf_getopts() -> Check {
    let dir = scratch("sh_heredoc_printf_getopts")?;
    let s = format!("{dir}/h.sh");
    script(&s, HEREDOC_PRINTF_GETOPTS, 0o644)?;
    expect(
        &["/bin/sh", &s],
        "verbose\nn=3\nbad -x\no=file\noperands: a b\nmissing -n\noperands: \n\
         apple |  3|    1.|0x3\npear  | 12|    0.|0xc\nfig   | 10|     3|0xa\n\
         total=00025\nagain=00007\nused 25 $total\nreadonly: 1\n",
        0,
    )?;
    pass()
}

/// Write `text` to `path` with `mode`.
fn script(path: &str, text: &str, mode: u32) -> Result<(), Fail> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| Fail(format!("write {path}: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Fail(format!("chmod {path}: {e}")))
}

fn expect(argv: &[&str], out: &str, code: i32) -> Result<(), Fail> {
    let o = run(argv)?;
    if o.out != out || o.code != code {
        return Err(Fail(format!(
            "{argv:?}: printed {:?} (stderr {:?}), exit {}; want {out:?}, exit {code}",
            o.out, o.err, o.code
        )));
    }
    Ok(())
}

/// Scripts as files: `#!` ones run by the kernel (binfmt_script), with an interpreter
/// argument too; ones without `#!` refused by the kernel (ENOEXEC) and run by `sh`; `sh FILE
/// ARGS`.
pub fn scripts() -> Check {
    let dir = scratch("sh_scripts")?;
    let s = format!("{dir}/s.sh");
    script(&s, "#!/bin/sh\necho \"$0 $# $1|$2\"\nexit 7\n", 0o755)?;
    expect(&[&s, "a", "b c"], &format!("{s} 2 a|b c\n"), 7)?;
    expect(&["/bin/sh", &s, "x"], &format!("{s} 1 x|\n"), 7)?;
    let e = format!("{dir}/e.sh");
    script(&e, "#! /bin/sh -e  \nfalse\necho not reached\n", 0o755)?;
    expect(&[&e], "", 1)?;
    let comm = format!("{dir}/comm.sh");
    script(&comm, "#!/bin/sh\ncat /proc/$$/comm\n", 0o755)?;
    expect(&[&comm], "comm.sh\n", 0)?;
    // Without `#!` the kernel says ENOEXEC; the shell runs it itself.
    let plain = format!("{dir}/plain");
    script(&plain, "echo plain $1\n", 0o755)?;
    match run(&[&plain]) {
        Err(Fail(msg)) if msg.contains("os error 8") => {}
        other => {
            return Err(Fail(format!(
                "exec of a file without #!: {:?}, want ENOEXEC",
                other.map(|o| o.out)
            )))
        }
    }
    expect(&["/bin/sh", "-c", &format!("{plain} x")], "plain x\n", 0)?;
    // Not executable: EACCES, status 126.
    script(&format!("{dir}/noexec.sh"), "#!/bin/sh\necho no\n", 0o644)?;
    let o = run(&["/bin/sh", "-c", &format!("{dir}/noexec.sh")])?;
    if o.code != 126 || !o.err.contains("ermission denied") {
        return Err(Fail(format!(
            "non-executable script: {:?} exit {}",
            o.err, o.code
        )));
    }
    pass()
}
