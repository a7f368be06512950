//! The kernel's functions' arguments and data layouts, from its ELF's DWARF (read with `gimli`):
//! what `args->NAME` of a `kfunc:` probe is (which argument register holds it at the function's
//! entry) and how to follow `args->NAME->field->...` through the kernel's structures.
//!
//! Everything is read once, into plain tables: a parameter list per function entry address and
//! the types those parameters reach. Rust's smart pointers (`Arc`, `Box`, `NonNull`) and
//! wrappers (`AtomicU32`, `UnsafeCell`, newtypes) are single-field structs in DWARF; a field
//! lookup looks through them, so `args->task->pid` works on an `&Arc<Task>` as it would in C.

use std::borrow::Cow;
use std::collections::HashMap;

use gimli::{EndianSlice, LittleEndian};
use object::{Object, ObjectSection};

use crate::trace::{FieldInfo, FieldType, Value};

mod reader;
use reader::Builder;

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Index into [`KernelDebug`]'s type table.
pub type TypeId = usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeDesc {
    Int {
        size: u8,
        signed: bool,
    },
    Pointer {
        target: Option<TypeId>,
    },
    Struct {
        size: u64,
        members: Vec<Member>,
    },
    Array {
        elem: TypeId,
        count: u64,
    },
    /// A name kept in words for lock-free reads (the kernel's `TaskComm`): read as a string.
    Chars {
        len: u64,
    },
    /// Anything else (enums with data, unions, functions): its size only.
    Opaque {
        size: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub offset: u64,
    pub ty: TypeId,
}

/// A function parameter: its name, the argument register it arrives in (0 = `rdi` .. 5 =
/// `r9`; `None` when DWARF puts it elsewhere at entry) and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub reg: Option<u8>,
    pub ty: Option<TypeId>,
}

/// Reads guest kernel memory: fills the buffer from a kernel virtual address, false if any of
/// it is not readable.
pub trait KernelMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool;
}

#[derive(Debug, Default)]
pub struct KernelDebug {
    pub(super) params: HashMap<u64, Vec<Param>>,
    pub(super) types: Vec<TypeDesc>,
    /// Structures by their name (the first of a name), for `curtask`'s `Task`.
    pub(super) structs: HashMap<String, TypeId>,
}

/// How deep field lookups look through wrapper structs, and pointer chains go.
const MAX_WRAPPERS: usize = 8;
/// Longest string read from an array of bytes.
const MAX_STR: u64 = 64;

/// The argument registers in order, as DWARF numbers them (rdi, rsi, rdx, rcx, r8, r9).
const ARG_REGS: [u16; 6] = [5, 4, 1, 2, 8, 9];

impl KernelDebug {
    /// Reads the DWARF of a kernel ELF; an ELF without DWARF gives empty tables.
    pub fn parse(data: &[u8]) -> Result<KernelDebug, String> {
        let elf = object::File::parse(data).map_err(|e| e.to_string())?;
        let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
            Ok(elf
                .section_by_name(id.name())
                .and_then(|s| s.uncompressed_data().ok())
                .unwrap_or(Cow::Borrowed(&[])))
        };
        let sections = gimli::DwarfSections::load(load).map_err(|e| e.to_string())?;
        let dwarf = sections.borrow(|s| EndianSlice::new(s, LittleEndian));
        let mut b = Builder {
            dwarf: &dwarf,
            units: Vec::new(),
            memo: HashMap::new(),
            out: KernelDebug::default(),
            named: None,
        };
        b.run().map_err(|e| e.to_string())?;
        Ok(b.out)
    }

    /// The parameters of the function that starts at `addr`.
    pub fn params(&self, addr: u64) -> Option<&[Param]> {
        self.params.get(&addr).map(Vec::as_slice)
    }

    pub fn ty(&self, id: TypeId) -> Option<&TypeDesc> {
        self.types.get(id)
    }

    /// The structure called `name`, if a function's parameters reach it.
    pub fn struct_named(&self, name: &str) -> Option<TypeId> {
        self.structs.get(name).copied()
    }

    /// The fields of structure `ty`, as the catalog lists them.
    pub fn struct_fields(&self, ty: TypeId) -> Vec<FieldInfo> {
        match self.types.get(ty) {
            Some(TypeDesc::Struct { members, .. }) => members
                .iter()
                .map(|m| FieldInfo::new(&m.name, self.field_type(Some(m.ty))))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The catalog's view of a function's arguments: those that arrive in a register.
    pub fn arg_fields(&self, addr: u64) -> Option<Vec<FieldInfo>> {
        let params = self.params(addr)?;
        Some(
            params
                .iter()
                .filter(|p| p.reg.is_some())
                .map(|p| FieldInfo::new(&p.name, self.field_type(p.ty)))
                .collect(),
        )
    }

    /// What the checker knows a value of `ty` to be (wrappers are what they wrap).
    fn field_type(&self, ty: Option<TypeId>) -> FieldType {
        match ty.and_then(|t| self.types.get(self.unwrap(t))) {
            Some(TypeDesc::Int { .. }) => FieldType::Int,
            Some(TypeDesc::Pointer { .. }) => FieldType::Pointer,
            Some(TypeDesc::Chars { .. }) => FieldType::Str,
            _ => FieldType::Unknown,
        }
    }

    /// Looks through single-member wrappers (by value) to what they hold.
    fn unwrap(&self, mut ty: TypeId) -> TypeId {
        for _ in 0..MAX_WRAPPERS {
            match self.types.get(ty) {
                Some(TypeDesc::Struct { members, .. }) if members.len() == 1 => {
                    ty = members[0].ty;
                }
                _ => break,
            }
        }
        ty
    }

    /// `args->NAME->a->b`: the value of parameter `name` (its register in `regs`), then each
    /// field of `path` in turn, reading guest memory through `mem`.
    pub fn arg_path(
        &self,
        params: &[Param],
        regs: &[u64; 6],
        path: &[String],
        mem: &dyn KernelMemory,
    ) -> Option<Value> {
        let (name, rest) = path.split_first()?;
        let p = params.iter().find(|p| &p.name == name)?;
        let raw = regs[usize::from(p.reg?)];
        let Some(ty) = p.ty else {
            return rest.is_empty().then_some(Value::Int(raw as i64));
        };
        if rest.is_empty() {
            return Some(match self.types.get(self.unwrap(ty)) {
                Some(TypeDesc::Int { size, signed }) => Value::Int(extend(raw, *size, *signed)),
                _ => Value::Int(raw as i64),
            });
        }
        self.follow(ty, Place::Value(raw), rest, mem)
    }

    /// Follows `path` from a value of type `ty` that is in a register or in memory.
    pub fn follow(
        &self,
        mut ty: TypeId,
        mut at: Place,
        path: &[String],
        mem: &dyn KernelMemory,
    ) -> Option<Value> {
        for field in path {
            let (member_ty, addr) = self.member(ty, at, field, mem)?;
            ty = member_ty;
            at = Place::Memory(addr);
        }
        match at {
            Place::Memory(addr) => self.read(ty, addr, mem),
            Place::Value(v) => Some(Value::Int(v as i64)),
        }
    }

    /// Finds `field` in what `ty` at `at` is or points to, through wrappers and smart pointers.
    fn member(
        &self,
        mut ty: TypeId,
        mut at: Place,
        field: &str,
        mem: &dyn KernelMemory,
    ) -> Option<(TypeId, u64)> {
        for _ in 0..MAX_WRAPPERS {
            match self.types.get(ty)? {
                TypeDesc::Pointer { target } => {
                    let ptr = match at {
                        Place::Value(v) => v,
                        Place::Memory(a) => read_u64(mem, a)?,
                    };
                    ty = (*target)?;
                    at = Place::Memory(ptr);
                }
                TypeDesc::Struct { members, .. } => {
                    if let Place::Memory(base) = at {
                        if let Some(found) = self.embedded(ty, base, field) {
                            return Some(found);
                        }
                    }
                    // A wrapper: look inside its one field with a size (in a register, the
                    // wrapper is that field).
                    let mut sized = members.iter().filter(|m| self.size(m.ty) != 0);
                    let (Some(inner), None) = (sized.next(), sized.next()) else {
                        return None;
                    };
                    ty = inner.ty;
                    at = match at {
                        Place::Memory(base) => Place::Memory(base.checked_add(inner.offset)?),
                        Place::Value(_) if inner.offset == 0 => at,
                        Place::Value(_) => return None,
                    };
                }
                _ => return None,
            }
        }
        None
    }

    /// `field` of the struct `ty` at `base`, or of a struct it holds by value (shallowest
    /// first, as C's anonymous members; Rust's `ArcInner` holds the value as `data`).
    fn embedded(&self, ty: TypeId, base: u64, field: &str) -> Option<(TypeId, u64)> {
        const DEPTH: usize = 3;
        let mut level = vec![(ty, base)];
        for _ in 0..DEPTH {
            let mut next = Vec::new();
            for (ty, base) in level {
                let Some(TypeDesc::Struct { members, .. }) = self.types.get(ty) else {
                    continue;
                };
                for m in members {
                    let at = base.checked_add(m.offset)?;
                    if m.name == field {
                        return Some((m.ty, at));
                    }
                    next.push((m.ty, at));
                }
            }
            level = next;
        }
        None
    }

    fn size(&self, ty: TypeId) -> u64 {
        match self.types.get(ty) {
            Some(TypeDesc::Int { size, .. }) => u64::from(*size),
            Some(TypeDesc::Pointer { .. }) => 8,
            Some(
                TypeDesc::Struct { size, .. }
                | TypeDesc::Opaque { size }
                | TypeDesc::Chars { len: size },
            ) => *size,
            Some(TypeDesc::Array { elem, count }) => self.size(*elem).saturating_mul(*count),
            None => 0,
        }
    }

    /// The value of a `ty` at `addr`: integers and pointers as integers, byte arrays as
    /// strings, wrappers as what they wrap; `None` for anything else.
    fn read(&self, ty: TypeId, addr: u64, mem: &dyn KernelMemory) -> Option<Value> {
        let ty = self.unwrap(ty);
        match self.types.get(ty)? {
            TypeDesc::Int { size, signed } => {
                let mut b = [0u8; 8];
                let n = usize::from(*size).min(8);
                mem.read(addr, &mut b[..n]).then_some(())?;
                Some(Value::Int(extend(u64::from_le_bytes(b), *size, *signed)))
            }
            TypeDesc::Pointer { .. } => Some(Value::Int(read_u64(mem, addr)? as i64)),
            TypeDesc::Chars { len } => {
                let mut b = vec![0u8; (*len).min(MAX_STR) as usize];
                mem.read(addr, &mut b).then_some(())?;
                Some(Value::string(&b))
            }
            TypeDesc::Array { elem, count } if self.size(self.unwrap(*elem)) == 1 => {
                let mut b = vec![0u8; (*count).min(MAX_STR) as usize];
                mem.read(addr, &mut b).then_some(())?;
                Some(Value::string(&b))
            }
            _ => None,
        }
    }
}

/// Where a value is: in a register (its bits) or in guest memory (its address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Value(u64),
    Memory(u64),
}

fn read_u64(mem: &dyn KernelMemory, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    mem.read(addr, &mut b).then(|| u64::from_le_bytes(b))
}

/// Sign- or zero-extends the low `size` bytes of `raw`.
fn extend(raw: u64, size: u8, signed: bool) -> i64 {
    let bits = u32::from(size.clamp(1, 8)) * 8;
    let shift = 64 - bits;
    if signed {
        ((raw << shift) as i64) >> shift
    } else {
        ((raw << shift) >> shift) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory for tests: one buffer at a base address.
    struct Mem(u64, Vec<u8>);

    impl KernelMemory for Mem {
        fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
            let Some(off) = addr.checked_sub(self.0) else {
                return false;
            };
            match self.1.get(off as usize..off as usize + buf.len()) {
                Some(src) => {
                    buf.copy_from_slice(src);
                    true
                }
                None => false,
            }
        }
    }

    /// `struct Task { pid: AtomicI32 (wrapper of i32), comm: [u8; 16] }`, and
    /// `Arc<Task>` as `{ ptr: NonNull<ArcInner> }`, `ArcInner { strong, weak, data: Task }`.
    fn tables() -> KernelDebug {
        let member = |name: &str, offset, ty| Member {
            name: name.into(),
            offset,
            ty,
        };
        let types = vec![
            /* 0 */
            TypeDesc::Int {
                size: 4,
                signed: true,
            },
            /* 1 */
            TypeDesc::Struct {
                size: 4,
                members: vec![member("v", 0, 0)],
            },
            /* 2 */
            TypeDesc::Int {
                size: 1,
                signed: false,
            },
            /* 3 */ TypeDesc::Array { elem: 2, count: 16 },
            /* 4 */
            TypeDesc::Struct {
                size: 24,
                members: vec![member("pid", 0, 1), member("comm", 8, 3)],
            },
            /* 5 */
            TypeDesc::Int {
                size: 8,
                signed: false,
            },
            /* 6 */
            TypeDesc::Struct {
                size: 40,
                members: vec![
                    member("strong", 0, 5),
                    member("weak", 8, 5),
                    member("data", 16, 4),
                ],
            },
            /* 7 */ TypeDesc::Pointer { target: Some(6) },
            /* 8 */
            TypeDesc::Struct {
                size: 8,
                members: vec![member("ptr", 0, 7)],
            },
            /* 9 */ TypeDesc::Pointer { target: Some(8) },
            /* 10 */
            TypeDesc::Struct {
                size: 0,
                members: vec![],
            },
        ];
        let params = vec![
            Param {
                name: "task".into(),
                reg: Some(0),
                ty: Some(9),
            },
            Param {
                name: "code".into(),
                reg: Some(1),
                ty: Some(1),
            },
            Param {
                name: "spilled".into(),
                reg: None,
                ty: Some(0),
            },
        ];
        KernelDebug {
            params: HashMap::from([(0x1000, params)]),
            types,
            structs: HashMap::from([("Task".to_string(), 4)]),
        }
    }

    #[test]
    fn arguments_and_fields_through_smart_pointers() {
        let d = tables();
        // An &Arc<Task> at 0x100 pointing at an ArcInner at 0x200.
        let mut bytes = vec![0u8; 0x300];
        bytes[0..8].copy_from_slice(&0x1200u64.to_le_bytes());
        bytes[0x110..0x114].copy_from_slice(&(-7i32).to_le_bytes());
        bytes[0x118..0x11a].copy_from_slice(b"sh");
        let mem = Mem(0x1100, bytes);
        let regs = [0x1100, 0xffff_fff6, 0, 0, 0, 0];
        let params = d.params(0x1000).unwrap();
        let get = |path: &[&str]| {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            d.arg_path(params, &regs, &path, &mem)
        };
        assert_eq!(
            get(&["code"]),
            Some(Value::Int(-10)),
            "an i32 wrapper, sign-extended"
        );
        assert_eq!(get(&["task"]), Some(Value::Int(0x1100)));
        assert_eq!(get(&["task", "pid"]), Some(Value::Int(-7)));
        assert_eq!(get(&["task", "comm"]), Some(Value::string(b"sh")));
        assert_eq!(get(&["task", "nope"]), None);
        assert_eq!(
            get(&["task", "strong"]),
            Some(Value::Int(0)),
            "ArcInner's own fields too"
        );
        assert_eq!(get(&["spilled"]), None, "not in a register at entry");
        assert_eq!(get(&["code", "x"]), None, "not a pointer");
        // Unreadable memory (a garbage pointer) is nothing, not a crash.
        let regs = [0xdead_0000, 0, 0, 0, 0, 0];
        let path = vec!["task".to_string(), "pid".to_string()];
        assert_eq!(d.arg_path(params, &regs, &path, &mem), None);
        let fields = d.arg_fields(0x1000).unwrap();
        assert_eq!(
            fields,
            [
                FieldInfo::new("task", FieldType::Pointer),
                FieldInfo::new("code", FieldType::Int)
            ]
        );
        let _ = TypeDesc::Opaque { size: 0 };
        assert_eq!(d.size(10), 0);
    }

    #[test]
    fn extends_by_width() {
        assert_eq!(extend(0xff, 1, true), -1);
        assert_eq!(extend(0xff, 1, false), 255);
        assert_eq!(extend(u64::MAX, 8, false), -1);
        assert_eq!(extend(0x1_0000_0001, 4, true), 1);
    }
}
