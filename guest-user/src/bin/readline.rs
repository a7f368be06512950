//! Reads one line from the console and echoes it back (tests console input end to end).
use std::io::BufRead;

fn main() {
    let mut line = String::new();
    let n = std::io::stdin().lock().read_line(&mut line).unwrap_or(0);
    println!("readline: got {n} bytes: {}", line.trim_end());
}
