//! Reading the DWARF into [`KernelDebug`]'s tables: every out-of-line function's parameters
//! (their names, the argument register each is in at entry) and the types they reach.

use std::collections::HashMap;

use gimli::{AttributeValue, DebugInfoOffset, Operation};

use super::{KernelDebug, Member, Param, TypeDesc, TypeId, ARG_REGS, R};

/// A parameter as found: name, register, type not yet resolved.
type RawParam = (String, Option<u8>, Option<DebugInfoOffset>);

pub(super) struct Builder<'d, 'a> {
    pub dwarf: &'d gimli::Dwarf<R<'a>>,
    /// Every unit, by the offset of its header, for references across units.
    pub units: Vec<(DebugInfoOffset, gimli::Unit<R<'a>>)>,
    pub memo: HashMap<DebugInfoOffset, TypeId>,
    pub out: KernelDebug,
    /// The name of the structure `describe` just read (registered by `resolve`).
    pub named: Option<String>,
}

impl<'a> Builder<'_, 'a> {
    pub fn run(&mut self) -> gimli::Result<()> {
        let mut headers = self.dwarf.units();
        while let Some(h) = headers.next()? {
            let Some(off) = h.debug_info_offset() else {
                continue;
            };
            let unit = self.dwarf.unit(h)?;
            self.units.push((off, unit));
        }
        for i in 0..self.units.len() {
            self.functions_of(i)?;
        }
        Ok(())
    }

    /// Every out-of-line function of unit `i` with its parameters.
    fn functions_of(&mut self, i: usize) -> gimli::Result<()> {
        let mut found: Vec<(u64, Vec<RawParam>)> = Vec::new();
        {
            let unit = &self.units[i].1;
            let mut cursor = unit.entries();
            // The subprogram being read and its depth.
            let mut current: Option<(isize, u64, Vec<_>)> = None;
            while let Some(e) = cursor.next_dfs()? {
                let depth = e.depth();
                if let Some((d, _, _)) = &current {
                    if depth <= *d {
                        let (_, addr, params) = current.take().expect("checked");
                        found.push((addr, params));
                    }
                }
                match e.tag() {
                    gimli::DW_TAG_subprogram => {
                        if let Some(AttributeValue::Addr(low)) = e.attr_value(gimli::DW_AT_low_pc) {
                            current = Some((depth, low, Vec::new()));
                        }
                    }
                    gimli::DW_TAG_formal_parameter => {
                        let Some((d, low, params)) = &mut current else {
                            continue;
                        };
                        if depth != *d + 1 {
                            continue;
                        }
                        let name = self.name_of(unit, e)?;
                        let ty = self.type_ref(unit, e)?;
                        let reg = match e.attr_value(gimli::DW_AT_location) {
                            Some(v) => entry_register(self.dwarf, unit, v, *low)?,
                            None => None,
                        };
                        // Unnamed parameters (`_`, closure environments) can't be asked for.
                        if let Some(name) = name {
                            params.push((name, reg, ty));
                        }
                    }
                    _ => {}
                }
            }
            if let Some((_, addr, params)) = current.take() {
                found.push((addr, params));
            }
        }
        for (addr, params) in found {
            let params = params
                .into_iter()
                .map(|(name, reg, ty)| Param {
                    name,
                    reg,
                    ty: ty.map(|t| self.resolve(t, 0)),
                })
                .collect();
            self.out.params.entry(addr).or_insert(params);
        }
        Ok(())
    }

    /// A DIE's name, its own or its abstract origin's.
    fn name_of(
        &self,
        unit: &gimli::Unit<R<'a>>,
        e: &gimli::DebuggingInformationEntry<R<'a>>,
    ) -> gimli::Result<Option<String>> {
        if let Some(v) = e.attr_value(gimli::DW_AT_name) {
            let s = self.dwarf.attr_string(unit, v)?;
            return Ok(Some(s.to_string_lossy().into_owned()));
        }
        if let Some(origin) = e.attr_value(gimli::DW_AT_abstract_origin) {
            if let Some(off) = global_ref(unit, origin) {
                if let Some((u, die)) = self.die_at(off)? {
                    if let Some(v) = die.attr_value(gimli::DW_AT_name) {
                        let s = self.dwarf.attr_string(u, v)?;
                        return Ok(Some(s.to_string_lossy().into_owned()));
                    }
                }
            }
        }
        Ok(None)
    }

    /// A DIE's `DW_AT_type`, its own or its abstract origin's, as a global offset.
    fn type_ref(
        &self,
        unit: &gimli::Unit<R<'a>>,
        e: &gimli::DebuggingInformationEntry<R<'a>>,
    ) -> gimli::Result<Option<DebugInfoOffset>> {
        if let Some(t) = e.attr_value(gimli::DW_AT_type) {
            return Ok(global_ref(unit, t));
        }
        if let Some(origin) = e.attr_value(gimli::DW_AT_abstract_origin) {
            if let Some(off) = global_ref(unit, origin) {
                if let Some((u, die)) = self.die_at(off)? {
                    return Ok(die
                        .attr_value(gimli::DW_AT_type)
                        .and_then(|t| global_ref(u, t)));
                }
            }
        }
        Ok(None)
    }

    /// The unit holding a global offset and the DIE there.
    #[allow(clippy::type_complexity)]
    fn die_at(
        &self,
        off: DebugInfoOffset,
    ) -> gimli::Result<Option<(&gimli::Unit<R<'a>>, gimli::DebuggingInformationEntry<R<'a>>)>> {
        let i = self.units.partition_point(|(start, _)| start.0 <= off.0);
        let Some((_, unit)) = i.checked_sub(1).and_then(|i| self.units.get(i)) else {
            return Ok(None);
        };
        let Some(local) = off.to_unit_offset(&unit.header) else {
            return Ok(None);
        };
        Ok(Some((unit, unit.entry(local)?)))
    }

    /// The type at `off`, added to the table (once; cycles through pointers are fine).
    fn resolve(&mut self, off: DebugInfoOffset, depth: usize) -> TypeId {
        if let Some(&id) = self.memo.get(&off) {
            return id;
        }
        let id = self.out.types.len();
        self.out.types.push(TypeDesc::Opaque { size: 0 });
        self.memo.insert(off, id);
        let desc = self
            .describe(off, depth)
            .unwrap_or(TypeDesc::Opaque { size: 0 });
        self.out.types[id] = desc;
        if let Some(name) = self.named.take() {
            self.out.structs.entry(name).or_insert(id);
        }
        id
    }

    fn describe(&mut self, off: DebugInfoOffset, depth: usize) -> gimli::Result<TypeDesc> {
        // Deep chains of value types are cut short (pointers are resolved lazily enough: each
        // type once).
        if depth > 64 {
            return Ok(TypeDesc::Opaque { size: 0 });
        }
        let Some((unit, die)) = self.die_at(off)? else {
            return Ok(TypeDesc::Opaque { size: 0 });
        };
        let size = die
            .attr_value(gimli::DW_AT_byte_size)
            .and_then(|v| v.udata_value())
            .unwrap_or(0);
        let inner = die
            .attr_value(gimli::DW_AT_type)
            .and_then(|t| global_ref(unit, t));
        Ok(match die.tag() {
            gimli::DW_TAG_base_type => {
                let signed = matches!(
                    die.attr_value(gimli::DW_AT_encoding),
                    Some(AttributeValue::Encoding(
                        gimli::DW_ATE_signed | gimli::DW_ATE_signed_char
                    ))
                );
                if (1..=8).contains(&size) {
                    TypeDesc::Int {
                        size: size as u8,
                        signed,
                    }
                } else {
                    TypeDesc::Opaque { size }
                }
            }
            gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => TypeDesc::Pointer {
                target: inner.map(|t| self.resolve(t, depth + 1)),
            },
            gimli::DW_TAG_typedef | gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type => {
                match inner {
                    Some(t) => {
                        let id = self.resolve(t, depth + 1);
                        self.out.types[id].clone()
                    }
                    None => TypeDesc::Opaque { size },
                }
            }
            gimli::DW_TAG_array_type => {
                let count = array_count(unit, off)?.unwrap_or(0);
                match inner {
                    Some(t) => TypeDesc::Array {
                        elem: self.resolve(t, depth + 1),
                        count,
                    },
                    None => TypeDesc::Opaque { size },
                }
            }
            gimli::DW_TAG_structure_type
                if die
                    .attr_value(gimli::DW_AT_name)
                    .and_then(|n| self.dwarf.attr_string(unit, n).ok())
                    .is_some_and(|n| n.slice() == abi::trace::COMM_TYPE_NAME.as_bytes()) =>
            {
                TypeDesc::Chars { len: size }
            }
            gimli::DW_TAG_structure_type => {
                let name = die
                    .attr_value(gimli::DW_AT_name)
                    .and_then(|n| self.dwarf.attr_string(unit, n).ok())
                    .map(|n| n.to_string_lossy().into_owned());
                let fields = struct_members(self.dwarf, unit, off)?;
                let mut members = Vec::new();
                for (name, offset, ty) in fields {
                    members.push(Member {
                        name,
                        offset,
                        ty: self.resolve(ty, depth + 1),
                    });
                }
                // After the members: their own structures have been registered by now.
                self.named = name;
                TypeDesc::Struct { size, members }
            }
            _ => TypeDesc::Opaque { size },
        })
    }
}

/// A type or origin reference as a global `.debug_info` offset.
fn global_ref(unit: &gimli::Unit<R<'_>>, v: AttributeValue<R<'_>>) -> Option<DebugInfoOffset> {
    match v {
        AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit.header),
        AttributeValue::DebugInfoRef(o) => Some(o),
        _ => None,
    }
}

/// Calls `f` on each child of the DIE at `off` tagged `tag`, until it returns something.
fn find_child<T>(
    unit: &gimli::Unit<R<'_>>,
    off: DebugInfoOffset,
    tag: gimli::DwTag,
    mut f: impl FnMut(&gimli::DebuggingInformationEntry<R<'_>>) -> gimli::Result<Option<T>>,
) -> gimli::Result<Option<T>> {
    let Some(local) = off.to_unit_offset(&unit.header) else {
        return Ok(None);
    };
    let mut tree = unit.entries_tree(Some(local))?;
    let mut children = tree.root()?.children();
    while let Some(child) = children.next()? {
        if child.entry().tag() == tag {
            if let Some(found) = f(child.entry())? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// The direct `DW_TAG_member`s of the struct at `off` (not those inside a variant part).
fn struct_members(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    off: DebugInfoOffset,
) -> gimli::Result<Vec<(String, u64, DebugInfoOffset)>> {
    let mut out = Vec::new();
    find_child(unit, off, gimli::DW_TAG_member, |e| {
        let ty = e
            .attr_value(gimli::DW_AT_type)
            .and_then(|t| global_ref(unit, t));
        if let (Some(name), Some(ty)) = (e.attr_value(gimli::DW_AT_name), ty) {
            let offset = e
                .attr_value(gimli::DW_AT_data_member_location)
                .and_then(|v| v.udata_value())
                .unwrap_or(0);
            let name = dwarf
                .attr_string(unit, name)?
                .to_string_lossy()
                .into_owned();
            out.push((name, offset, ty));
        }
        Ok(None::<()>)
    })?;
    Ok(out)
}

/// The element count of the array at `off` (its subrange's count or upper bound).
fn array_count(unit: &gimli::Unit<R<'_>>, off: DebugInfoOffset) -> gimli::Result<Option<u64>> {
    find_child(unit, off, gimli::DW_TAG_subrange_type, |e| {
        let attr = |at| e.attr_value(at).and_then(|v| v.udata_value());
        Ok(attr(gimli::DW_AT_count).or_else(|| attr(gimli::DW_AT_upper_bound).map(|n| n + 1)))
    })
}

/// The argument register (0..=5) a parameter is in at the function's entry, from its
/// location (an expression or a list). The 5-byte patchable NOP comes first, so the list
/// usually starts right after it. A value split in pieces reports its first piece.
fn entry_register(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    loc: AttributeValue<R<'_>>,
    low_pc: u64,
) -> gimli::Result<Option<u8>> {
    let expr = match loc {
        AttributeValue::Exprloc(e) => Some(e),
        other => {
            let mut found = None;
            if let Some(mut list) = dwarf.attr_locations(unit, other)? {
                while let Some(entry) = list.next()? {
                    let r = entry.range;
                    if r.begin <= low_pc + 5 && low_pc < r.end {
                        found = Some(entry.data);
                        break;
                    }
                }
            }
            found
        }
    };
    let Some(expr) = expr else {
        return Ok(None);
    };
    let mut ops = expr.operations(unit.encoding());
    Ok(match ops.next()? {
        Some(Operation::Register { register }) => ARG_REGS
            .iter()
            .position(|&r| r == register.0)
            .map(|i| i as u8),
        _ => None,
    })
}
