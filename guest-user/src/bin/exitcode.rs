//! Exits with the status given as its first argument (tests that the status reaches the host).
fn main() {
    let code = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    println!("exitcode: exiting with {code}");
    std::process::exit(code);
}
