//! Arithmetic expansion `$((...))` (POSIX 2.6.4): signed 64-bit integers in decimal, octal
//! (`010`) and hex (`0x1f`); variables by name (unset or empty is 0); C's operators from
//! `,`-less assignment (`=`, `+=`, ...) down through `?:`, `||`, `&&`, `|`, `^`, `&`,
//! `==`/`!=`, comparisons, shifts, `+ -`, `* / %` and the unary `+ - ! ~`, with parentheses.
//! The `$` expansions inside were already done by the caller.

/// Where variables live.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
    fn set(&mut self, name: &str, value: &str);
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    vars: &'a mut dyn Vars,
    /// Inside the branch `&&`, `||` or `?:` does not take: parse, don't assign or divide.
    skip: u32,
}

type R = Result<i64, String>;

/// Binary operators by precedence level, lowest first (assignment and `?:` are separate).
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<=", ">=", "<", ">"],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

fn number(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let r = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8)
    } else {
        t.parse()
    };
    r.map_err(|_| format!("{t}: bad number"))
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    /// Consume `op` if it comes next (and is not the start of a longer operator).
    fn eat(&mut self, op: &str) -> bool {
        self.ws();
        let rest = &self.s[self.pos..];
        if !rest.starts_with(op.as_bytes()) {
            return false;
        }
        let next = rest.get(op.len()).copied();
        // `<` is not `<<` or `<=`, `|` is not `||`, `=` is not `==`, `*` is not `*=`.
        let longer = match op {
            "<" | ">" | "&" | "|" => next == Some(op.as_bytes()[0]) || next == Some(b'='),
            "=" => next == Some(b'='),
            "+" | "-" | "*" | "/" | "%" | "^" | "<<" | ">>" | "!" => next == Some(b'='),
            _ => false,
        };
        if longer {
            return false;
        }
        self.pos += op.len();
        true
    }

    fn name(&mut self) -> Option<String> {
        self.ws();
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.pos += 1;
        }
        let n = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        if n.is_empty() || n.as_bytes()[0].is_ascii_digit() {
            self.pos = start;
            return None;
        }
        Some(n)
    }

    fn var(&mut self, name: &str) -> R {
        match self.vars.get(name) {
            Some(v) if !v.trim().is_empty() => number(&v),
            _ => Ok(0),
        }
    }

    fn assign(&mut self) -> R {
        let save = self.pos;
        if let Some(name) = self.name() {
            for op in [
                "=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "^=", "|=",
            ] {
                if self.eat(op) {
                    let rhs = self.assign()?;
                    let v = if op == "=" {
                        rhs
                    } else {
                        let old = self.var(&name)?;
                        self.apply(&op[..op.len() - 1], old, rhs)?
                    };
                    if self.skip == 0 {
                        self.vars.set(&name, &v.to_string());
                    }
                    return Ok(v);
                }
            }
            self.pos = save;
        }
        self.ternary()
    }

    fn ternary(&mut self) -> R {
        let c = self.binary(0)?;
        if !self.eat("?") {
            return Ok(c);
        }
        self.skip += u32::from(c == 0);
        let a = self.assign()?;
        self.skip -= u32::from(c == 0);
        if !self.eat(":") {
            return Err("expecting ':'".into());
        }
        self.skip += u32::from(c != 0);
        let b = self.ternary()?;
        self.skip -= u32::from(c != 0);
        Ok(if c != 0 { a } else { b })
    }

    fn apply(&self, op: &str, a: i64, b: i64) -> R {
        Ok(match op {
            "||" => i64::from(a != 0 || b != 0),
            "&&" => i64::from(a != 0 && b != 0),
            "|" => a | b,
            "^" => a ^ b,
            "&" => a & b,
            "==" => i64::from(a == b),
            "!=" => i64::from(a != b),
            "<=" => i64::from(a <= b),
            ">=" => i64::from(a >= b),
            "<" => i64::from(a < b),
            ">" => i64::from(a > b),
            "<<" => a.wrapping_shl(b as u32),
            ">>" => a.wrapping_shr(b as u32),
            "+" => a.wrapping_add(b),
            "-" => a.wrapping_sub(b),
            "*" => a.wrapping_mul(b),
            "/" | "%" if b == 0 => {
                return if self.skip > 0 {
                    Ok(0)
                } else {
                    Err("division by zero".into())
                }
            }
            "/" => a.wrapping_div(b),
            _ => a.wrapping_rem(b),
        })
    }

    fn binary(&mut self, level: usize) -> R {
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut a = self.binary(level + 1)?;
        'next: loop {
            for op in ops.iter() {
                if self.eat(op) {
                    // The right side of a decided `&&`/`||` is not evaluated.
                    let short = (*op == "&&" && a == 0) || (*op == "||" && a != 0);
                    self.skip += u32::from(short);
                    let b = self.binary(level + 1)?;
                    self.skip -= u32::from(short);
                    a = self.apply(op, a, b)?;
                    continue 'next;
                }
            }
            return Ok(a);
        }
    }

    fn unary(&mut self) -> R {
        if self.eat("+") {
            return self.unary();
        }
        if self.eat("-") {
            return Ok(self.unary()?.wrapping_neg());
        }
        if self.eat("!") {
            return Ok(i64::from(self.unary()? == 0));
        }
        if self.eat("~") {
            return Ok(!self.unary()?);
        }
        self.primary()
    }

    fn primary(&mut self) -> R {
        if self.eat("(") {
            let v = self.assign()?;
            if !self.eat(")") {
                return Err("missing ')'".into());
            }
            return Ok(v);
        }
        if let Some(name) = self.name() {
            return self.var(&name);
        }
        self.ws();
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(match self.s.get(self.pos) {
                Some(&c) => format!("syntax error near '{}'", c as char),
                None => "missing operand".into(),
            });
        }
        number(&String::from_utf8_lossy(&self.s[start..self.pos]))
    }
}

/// The value of `expr`.
pub fn eval(expr: &str, vars: &mut dyn Vars) -> R {
    let mut p = Parser {
        s: expr.as_bytes(),
        pos: 0,
        vars,
        skip: 0,
    };
    p.ws();
    if p.pos == p.s.len() {
        return Ok(0);
    }
    let v = p.assign()?;
    p.ws();
    match p.s.get(p.pos) {
        None => Ok(v),
        Some(&c) => Err(format!("syntax error near '{}'", c as char)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    impl Vars for HashMap<String, String> {
        fn get(&self, name: &str) -> Option<String> {
            HashMap::get(self, name).cloned()
        }
        fn set(&mut self, name: &str, value: &str) {
            self.insert(name.into(), value.into());
        }
    }

    fn ev(e: &str) -> R {
        let mut v: HashMap<String, String> = [("i".to_string(), "7".to_string())].into();
        eval(e, &mut v)
    }

    #[test]
    fn operators_and_precedence() {
        assert_eq!(ev("1 + 2 * 3"), Ok(7));
        assert_eq!(ev("(1 + 2) * 3"), Ok(9));
        assert_eq!(ev("7 / 2 + 7 % 2"), Ok(4));
        assert_eq!(ev("-7 / 2"), Ok(-3));
        assert_eq!(ev("2 < 3 && 3 <= 3 && !(4 == 5) && 4 != 5"), Ok(1));
        assert_eq!(ev("1 << 4 | 1"), Ok(17));
        assert_eq!(ev("i * i"), Ok(49));
        assert_eq!(ev("i > 5 ? 10 : 20"), Ok(10));
        assert_eq!(ev("010 + 0x10"), Ok(24));
        assert_eq!(ev("~0"), Ok(-1));
        assert_eq!(ev(""), Ok(0));
        assert_eq!(ev("nosuch + 1"), Ok(1));
    }

    #[test]
    fn assignments_and_short_circuit() {
        let mut v: HashMap<String, String> = HashMap::new();
        assert_eq!(eval("x = 5", &mut v), Ok(5));
        assert_eq!(eval("x += 2", &mut v), Ok(7));
        assert_eq!(eval("x *= x", &mut v), Ok(49));
        assert_eq!(v["x"], "49");
        assert_eq!(eval("0 && (y = 1)", &mut v), Ok(0));
        assert_eq!(eval("1 || 1 / 0", &mut v), Ok(1));
        assert!(!v.contains_key("y"));
        assert_eq!(eval("x == 49", &mut v), Ok(1));
    }

    #[test]
    fn errors() {
        assert_eq!(ev("1 / 0"), Err("division by zero".into()));
        assert!(ev("1 +").is_err());
        assert!(ev("(1").is_err());
        assert!(ev("1 2").is_err());
        assert!(ev("09").is_err());
    }
}
