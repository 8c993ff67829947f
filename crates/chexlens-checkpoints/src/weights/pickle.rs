//! A restricted pickle reader: just enough of the pickle machine to read what
//! `torch.save` writes for a state dict. Nothing is ever executed: globals are
//! resolved against a short allow-list into inert values, and any other global
//! or opcode is refused by name.
//!
//! A hostile pickle cannot make it use unbounded resources: containers live
//! in one arena and refer to each other by index (so nesting costs no stack,
//! even to drop, and cycles are harmless), strings are shared rather than
//! copied, and the stack, the memo and everything the machine creates are
//! capped relative to the pickle's own size.

use super::error::WeightErrorKind;
use super::le_bytes::LeBytes;
use super::tensor::StoredDType;
use std::collections::HashMap;
use std::rc::Rc;

/// A reference to one storage file inside the `.pth` archive (`data/<key>`).
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: StoredDType,
    /// Number of elements the pickle claims the storage has.
    pub numel: usize,
}

/// A tensor view onto a storage, as `torch._utils._rebuild_tensor_v2` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// The callables a state-dict pickle may name. Calling them only builds data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Callable {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    StorageType(StoredDType),
    /// numpy scalars and dtypes, torch.device, ...: kept as opaque values.
    Opaque,
    /// `_codecs.encode(str, 'latin1')`, how protocol 2 writes bytes.
    CodecsEncode,
}

/// Where a container lives in the [`Heap`].
pub type ContainerId = usize;

/// A pickled value. Containers are indices into the heap. Scalars keep
/// their payload for `Debug` output even where the loader never reads it.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(ContainerId),
    List(ContainerId),
    Dict(ContainerId),
    Callable(Callable),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
    Opaque,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_usize(&self) -> Option<usize> {
        match self {
            Value::Int(i) if *i >= 0 => usize::try_from(*i).ok(),
            _ => None,
        }
    }
}

/// Every container the pickle built; tuples and lists are sequences, dicts
/// keep their items in insertion order.
#[derive(Default)]
pub struct Heap {
    sequences: Vec<Vec<Value>>,
    dicts: Vec<Vec<(Value, Value)>>,
    /// Which of `sequences` / `dicts` each id names.
    slots: Vec<(bool, usize)>,
}

impl Heap {
    fn new_sequence(&mut self, items: Vec<Value>) -> ContainerId {
        self.sequences.push(items);
        self.slots.push((false, self.sequences.len() - 1));
        self.slots.len() - 1
    }

    fn new_dict(&mut self) -> ContainerId {
        self.dicts.push(Vec::new());
        self.slots.push((true, self.dicts.len() - 1));
        self.slots.len() - 1
    }

    /// The items of a tuple or list.
    pub fn sequence(&self, value: &Value) -> Option<&[Value]> {
        match value {
            Value::Tuple(id) | Value::List(id) => match self.slots.get(*id) {
                Some((false, i)) => self.sequences.get(*i).map(Vec::as_slice),
                _ => None,
            },
            _ => None,
        }
    }

    /// The items of a dict.
    pub fn dict(&self, value: &Value) -> Option<&[(Value, Value)]> {
        match value {
            Value::Dict(id) => match self.slots.get(*id) {
                Some((true, i)) => self.dicts.get(*i).map(Vec::as_slice),
                _ => None,
            },
            _ => None,
        }
    }

    fn sequence_mut(&mut self, id: ContainerId) -> Option<&mut Vec<Value>> {
        match self.slots.get(id) {
            Some((false, i)) => self.sequences.get_mut(*i),
            _ => None,
        }
    }

    fn dict_mut(&mut self, id: ContainerId) -> Option<&mut Vec<(Value, Value)>> {
        match self.slots.get(id) {
            Some((true, i)) => self.dicts.get_mut(*i),
            _ => None,
        }
    }

    fn usize_tuple(&self, value: &Value) -> Option<Vec<usize>> {
        self.sequence(value)?.iter().map(Value::as_usize).collect()
    }
}

/// An unpickled value with the containers it refers to.
pub struct Pickle {
    pub root: Value,
    pub heap: Heap,
}

/// The opcodes of pickle protocols 0-5 that a state dict can use.
mod op {
    pub const PROTO: u8 = 0x80;
    pub const FRAME: u8 = 0x95;
    pub const STOP: u8 = b'.';
    pub const MARK: u8 = b'(';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const NONE: u8 = b'N';
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const LONG1: u8 = 0x8a;
    pub const BINFLOAT: u8 = b'G';
    pub const BINUNICODE: u8 = b'X';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const BINBYTES: u8 = b'B';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const TUPLE: u8 = b't';
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE3: u8 = 0x87;
    pub const EMPTY_LIST: u8 = b']';
    pub const LIST: u8 = b'l';
    pub const APPEND: u8 = b'a';
    pub const APPENDS: u8 = b'e';
    pub const EMPTY_DICT: u8 = b'}';
    pub const DICT: u8 = b'd';
    pub const SETITEM: u8 = b's';
    pub const SETITEMS: u8 = b'u';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const MEMOIZE: u8 = 0x94;
    pub const BINGET: u8 = b'h';
    pub const LONG_BINGET: u8 = b'j';
    pub const GLOBAL: u8 = b'c';
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const REDUCE: u8 = b'R';
    pub const NEWOBJ: u8 = 0x81;
    pub const BUILD: u8 = b'b';
    pub const BINPERSID: u8 = b'Q';
}

/// Hard caps, whatever the pickle's size. `torch.save` batches dict items
/// 1000 at a time, so a real state dict keeps a few thousand values on the
/// stack and in the memo.
const MAX_STACK: usize = 1 << 20;
const MAX_MEMO: usize = 1 << 20;
/// Values created in all, whatever the pickle's size (about 150 MB of
/// values and containers; a convnext_base state dict needs about 10,000).
const MAX_VALUES: usize = 1 << 21;

fn resolve_global(module: &str, name: &str) -> Result<Callable, WeightErrorKind> {
    let storage = |dtype| Ok(Callable::StorageType(dtype));
    match (module, name) {
        ("collections", "OrderedDict") => Ok(Callable::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Ok(Callable::RebuildTensor),
        ("torch._utils", "_rebuild_parameter") => Ok(Callable::RebuildParameter),
        ("torch", "FloatStorage") => storage(StoredDType::F32),
        ("torch", "HalfStorage") => storage(StoredDType::F16),
        ("torch", "BFloat16Storage") => storage(StoredDType::BF16),
        ("torch", "DoubleStorage") => storage(StoredDType::F64),
        ("torch", "LongStorage") => storage(StoredDType::I64),
        ("torch", "IntStorage") => storage(StoredDType::I32),
        ("torch", "ShortStorage") => storage(StoredDType::I16),
        ("torch", "CharStorage") => storage(StoredDType::I8),
        ("torch", "ByteStorage") => storage(StoredDType::U8),
        ("torch", "BoolStorage") => storage(StoredDType::Bool),
        ("torch", "device")
        | ("numpy.core.multiarray", "scalar")
        | ("numpy._core.multiarray", "scalar")
        | ("numpy", "dtype") => Ok(Callable::Opaque),
        ("_codecs", "encode") => Ok(Callable::CodecsEncode),
        _ => Err(WeightErrorKind::ForbiddenGlobal {
            module: module.to_string(),
            name: name.to_string(),
        }),
    }
}

enum Slot {
    Mark,
    Value(Value),
}

struct Machine<'a> {
    input: LeBytes<'a>,
    stack: Vec<Slot>,
    memo: HashMap<u32, Value>,
    heap: Heap,
    /// Values and bytes the machine may still create: a budget linear in
    /// the pickle's size, so that no opcode sequence amplifies it.
    values_left: usize,
    bytes_left: usize,
}

/// Reads a pickle into inert values. Storages come back as [`Value::Storage`]
/// inside [`Value::Tensor`]s; their bytes are read separately from the archive.
pub fn read_pickle(data: &[u8]) -> Result<Pickle, WeightErrorKind> {
    let mut machine = Machine {
        input: LeBytes::at(data, 0, |position| WeightErrorKind::MalformedPickle {
            position,
            detail: "unexpected end of data".into(),
        }),
        stack: Vec::new(),
        memo: HashMap::new(),
        heap: Heap::default(),
        values_left: data.len().saturating_mul(4).saturating_add(1024).min(MAX_VALUES),
        bytes_left: data.len().saturating_mul(2).saturating_add(1024),
    };
    let root = machine.run()?;
    Ok(Pickle {
        root,
        heap: machine.heap,
    })
}

impl<'a> Machine<'a> {
    fn malformed(&self, detail: impl Into<String>) -> WeightErrorKind {
        WeightErrorKind::MalformedPickle {
            position: self.input.pos,
            detail: detail.into(),
        }
    }

    fn over_budget(&self, what: &str) -> WeightErrorKind {
        self.malformed(format!("it builds more {what} than a state dict of its size can hold"))
    }

    /// Counts `n` values the machine is about to create or copy.
    fn charge_values(&mut self, n: usize) -> Result<(), WeightErrorKind> {
        self.values_left = self
            .values_left
            .checked_sub(n)
            .ok_or_else(|| self.over_budget("values"))?;
        Ok(())
    }

    fn charge_bytes(&mut self, n: usize) -> Result<(), WeightErrorKind> {
        self.bytes_left = self.bytes_left.checked_sub(n).ok_or_else(|| self.over_budget("text"))?;
        Ok(())
    }

    /// A length prefix, checked against what is left of the data.
    fn length(&mut self, width: usize) -> Result<usize, WeightErrorKind> {
        let n = match width {
            1 => u64::from(self.input.u8()?),
            4 => u64::from(self.input.u32()?),
            _ => self.input.u64()?,
        };
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.input.remaining())
            .ok_or_else(|| self.malformed("a length runs past the end of the data"))
    }

    fn line(&mut self) -> Result<&'a str, WeightErrorKind> {
        let rest = &self.input.bytes()[self.input.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.malformed("unterminated line"))?;
        let text = std::str::from_utf8(&rest[..end]).map_err(|_| self.malformed("line is not UTF-8"))?;
        self.input.pos += end + 1;
        Ok(text)
    }

    /// Room on the stack for one more value or mark.
    fn stack_room(&self) -> Result<(), WeightErrorKind> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.malformed(format!("its stack grows past {MAX_STACK} entries")));
        }
        Ok(())
    }

    fn push(&mut self, v: Value) -> Result<(), WeightErrorKind> {
        self.stack_room()?;
        self.charge_values(1)?;
        self.stack.push(Slot::Value(v));
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, WeightErrorKind> {
        match self.stack.pop() {
            Some(Slot::Value(v)) => Ok(v),
            Some(Slot::Mark) => Err(self.malformed("found a mark where a value was expected")),
            None => Err(self.malformed("stack underflow")),
        }
    }

    fn top(&self) -> Result<&Value, WeightErrorKind> {
        match self.stack.last() {
            Some(Slot::Value(v)) => Ok(v),
            _ => Err(self.malformed("expected a value on the stack")),
        }
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, WeightErrorKind> {
        let mark = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or_else(|| self.malformed("no mark on the stack"))?;
        let items = self
            .stack
            .drain(mark..)
            .skip(1)
            .filter_map(|s| match s {
                Slot::Value(v) => Some(v),
                Slot::Mark => None,
            })
            .collect();
        Ok(items)
    }

    fn memo_get(&mut self, index: u32) -> Result<(), WeightErrorKind> {
        let v = self
            .memo
            .get(&index)
            .cloned()
            .ok_or_else(|| self.malformed(format!("memo entry {index} is not defined")))?;
        self.push(v)
    }

    fn memo_put(&mut self, index: u32) -> Result<(), WeightErrorKind> {
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&index) {
            return Err(self.malformed(format!("its memo grows past {MAX_MEMO} entries")));
        }
        let v = self.top()?.clone();
        self.memo.insert(index, v);
        Ok(())
    }

    fn new_sequence(&mut self, items: Vec<Value>) -> ContainerId {
        self.heap.new_sequence(items)
    }

    fn set_items(&mut self, pairs: Vec<Value>) -> Result<(), WeightErrorKind> {
        let Value::Dict(id) = *self.top()? else {
            return Err(self.malformed("SETITEM(S) on something that is not a dict"));
        };
        if !pairs.len().is_multiple_of(2) {
            return Err(self.malformed("odd number of items for a dict"));
        }
        let dict = self.heap.dict_mut(id).expect("a Dict value names a dict");
        let mut iter = pairs.into_iter();
        while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
            dict.push((k, v));
        }
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), WeightErrorKind> {
        let Value::List(id) = *self.top()? else {
            return Err(self.malformed("APPEND(S) on something that is not a list"));
        };
        self.heap
            .sequence_mut(id)
            .expect("a List value names a sequence")
            .extend(items);
        Ok(())
    }

    fn call(&mut self, callable: Callable, args: &Value) -> Result<Value, WeightErrorKind> {
        let Some(args) = self.heap.sequence(args) else {
            return Err(self.malformed("call arguments are not a tuple"));
        };
        match callable {
            Callable::OrderedDict => Ok(Value::Dict(self.heap.new_dict())),
            Callable::Opaque => Ok(Value::Opaque),
            Callable::CodecsEncode => match args.first() {
                Some(Value::Str(s)) => {
                    let bytes: Rc<[u8]> = s.chars().map(|c| c as u32 as u8).collect();
                    self.charge_bytes(bytes.len())?;
                    Ok(Value::Bytes(bytes))
                }
                _ => Err(self.malformed("_codecs.encode expects a string")),
            },
            Callable::RebuildParameter => args
                .first()
                .cloned()
                .ok_or_else(|| self.malformed("_rebuild_parameter without data")),
            Callable::RebuildTensor => {
                let bad = || self.malformed("_rebuild_tensor_v2 with unexpected arguments");
                let Some(Value::Storage(storage)) = args.first() else {
                    return Err(bad());
                };
                let offset = args.get(1).and_then(Value::as_usize).ok_or_else(bad)?;
                let shape = args.get(2).and_then(|v| self.heap.usize_tuple(v)).ok_or_else(bad)?;
                let stride = args.get(3).and_then(|v| self.heap.usize_tuple(v)).ok_or_else(bad)?;
                if shape.len() != stride.len() {
                    return Err(bad());
                }
                let tensor = TensorRef {
                    storage: storage.clone(),
                    offset,
                    shape,
                    stride,
                };
                self.charge_values(2 * tensor.shape.len())?;
                Ok(Value::Tensor(Rc::new(tensor)))
            }
            Callable::StorageType(_) => Err(self.malformed("a storage type is not callable here")),
        }
    }

    fn persistent_load(&self, pid: &Value) -> Result<Value, WeightErrorKind> {
        let bad = || self.malformed("persistent id is not a torch storage record");
        let items = self.heap.sequence(pid).ok_or_else(bad)?;
        // ('storage', torch.FloatStorage, key, location, numel)
        match items {
            [
                Value::Str(tag),
                Value::Callable(Callable::StorageType(dtype)),
                key,
                _location,
                numel,
            ] if &**tag == "storage" => {
                let key = match key {
                    Value::Str(s) => s.to_string(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err(bad()),
                };
                Ok(Value::Storage(Rc::new(StorageRef {
                    key,
                    dtype: *dtype,
                    numel: numel.as_usize().ok_or_else(bad)?,
                })))
            }
            _ => Err(bad()),
        }
    }

    /// PROTO: the protocol version, which must be one this machine knows.
    fn protocol(&mut self) -> Result<(), WeightErrorKind> {
        let version = self.input.u8()?;
        if version > 5 {
            return Err(self.malformed(format!("pickle protocol {version}")));
        }
        Ok(())
    }

    /// MARK: where the items that TUPLE, LIST, DICT, APPENDS and SETITEMS
    /// collect begin.
    fn mark(&mut self) -> Result<(), WeightErrorKind> {
        self.stack_room()?;
        self.stack.push(Slot::Mark);
        Ok(())
    }

    fn dup(&mut self) -> Result<(), WeightErrorKind> {
        let v = self.top()?.clone();
        self.push(v)
    }

    /// BININT1, BININT2 and BININT: an unsigned integer of 1 or 2 bytes, or
    /// a signed one of 4.
    fn binint(&mut self, width: usize) -> Result<(), WeightErrorKind> {
        let v = match width {
            1 => i64::from(self.input.u8()?),
            2 => i64::from(self.input.u16()?),
            _ => i64::from(self.input.u32()? as i32),
        };
        self.push(Value::Int(v))
    }

    fn long1(&mut self) -> Result<(), WeightErrorKind> {
        // Little-endian two's complement of n bytes.
        let n = self.length(1)?;
        if n > 8 {
            return Err(self.malformed("integer wider than 64 bits"));
        }
        let bytes = self.input.take(n)?;
        let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
            [0xffu8; 8]
        } else {
            [0u8; 8]
        };
        buf[..n].copy_from_slice(bytes);
        self.push(Value::Int(i64::from_le_bytes(buf)))
    }

    /// BINFLOAT: a big-endian double.
    fn binfloat(&mut self) -> Result<(), WeightErrorKind> {
        let v = f64::from_bits(self.input.u64()?.swap_bytes());
        self.push(Value::Float(v))
    }

    /// UTF-8 text after a length of `width` bytes (protocol 3+ `str`).
    fn unicode(&mut self, width: usize) -> Result<(), WeightErrorKind> {
        let len = self.length(width)?;
        let bytes = self.input.take(len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| self.malformed("string is not UTF-8"))?;
        self.push(Value::Str(text.into()))
    }

    /// Latin-1 text after a length of `width` bytes (protocol 2 `str` of
    /// Python 2).
    fn latin1(&mut self, width: usize) -> Result<(), WeightErrorKind> {
        let len = self.length(width)?;
        let bytes = self.input.take(len)?;
        self.charge_bytes(bytes.len())?;
        let text: String = bytes.iter().map(|&c| c as char).collect();
        self.push(Value::Str(text.into()))
    }

    /// Bytes after a length of `width` bytes.
    fn bytes(&mut self, width: usize) -> Result<(), WeightErrorKind> {
        let len = self.length(width)?;
        let bytes = self.input.take(len)?;
        self.push(Value::Bytes(bytes.into()))
    }

    /// A new tuple or list (as `kind` says) of `items`, pushed.
    fn push_sequence(&mut self, kind: fn(ContainerId) -> Value, items: Vec<Value>) -> Result<(), WeightErrorKind> {
        let id = self.new_sequence(items);
        self.push(kind(id))
    }

    /// TUPLE and LIST: the items above the topmost mark, as a tuple or list.
    fn sequence_from_mark(&mut self, kind: fn(ContainerId) -> Value) -> Result<(), WeightErrorKind> {
        let items = self.pop_to_mark()?;
        self.push_sequence(kind, items)
    }

    /// TUPLE1 to TUPLE3: the top `n` values, as a tuple.
    fn tuple_of_top(&mut self, n: usize) -> Result<(), WeightErrorKind> {
        let mut items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>, _>>()?;
        items.reverse();
        self.push_sequence(Value::Tuple, items)
    }

    /// APPEND: the top value, appended to the list below it.
    fn append_top(&mut self) -> Result<(), WeightErrorKind> {
        let v = self.pop()?;
        self.append(vec![v])
    }

    /// APPENDS: the items above the topmost mark, appended to the list below it.
    fn append_marked(&mut self) -> Result<(), WeightErrorKind> {
        let items = self.pop_to_mark()?;
        self.append(items)
    }

    fn empty_dict(&mut self) -> Result<(), WeightErrorKind> {
        let id = self.heap.new_dict();
        self.push(Value::Dict(id))
    }

    /// DICT: the keys and values above the topmost mark, as a dict.
    fn dict_from_mark(&mut self) -> Result<(), WeightErrorKind> {
        let items = self.pop_to_mark()?;
        self.empty_dict()?;
        self.set_items(items)
    }

    /// SETITEM: the top key and value, set in the dict below them.
    fn set_top_item(&mut self) -> Result<(), WeightErrorKind> {
        let v = self.pop()?;
        let k = self.pop()?;
        self.set_items(vec![k, v])
    }

    /// SETITEMS: the keys and values above the topmost mark, set in the
    /// dict below it.
    fn set_marked_items(&mut self) -> Result<(), WeightErrorKind> {
        let items = self.pop_to_mark()?;
        self.set_items(items)
    }

    /// A memo index of `width` bytes (1 or 4).
    fn memo_index(&mut self, width: usize) -> Result<u32, WeightErrorKind> {
        if width == 1 {
            Ok(self.input.u8()?.into())
        } else {
            self.input.u32()
        }
    }

    /// BINPUT and LONG_BINPUT: the top value, kept in the memo under an
    /// index of `width` bytes.
    fn binput(&mut self, width: usize) -> Result<(), WeightErrorKind> {
        let i = self.memo_index(width)?;
        self.memo_put(i)
    }

    /// MEMOIZE: the top value, kept in the memo under the memo's size.
    fn memoize(&mut self) -> Result<(), WeightErrorKind> {
        let i = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
        self.memo_put(i)
    }

    /// BINGET and LONG_BINGET: the memo's value under an index of `width`
    /// bytes, pushed.
    fn binget(&mut self, width: usize) -> Result<(), WeightErrorKind> {
        let i = self.memo_index(width)?;
        self.memo_get(i)
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), WeightErrorKind> {
        let callable = resolve_global(module, name)?;
        self.push(Value::Callable(callable))
    }

    /// GLOBAL: the module and the name as two lines of text.
    fn text_global(&mut self) -> Result<(), WeightErrorKind> {
        let module = self.line()?;
        let name = self.line()?;
        self.global(module, name)
    }

    /// STACK_GLOBAL: the module and the name as the two strings on top of
    /// the stack.
    fn stack_global(&mut self) -> Result<(), WeightErrorKind> {
        let name = self.pop()?;
        let module = self.pop()?;
        let (Some(module), Some(name)) = (module.as_str(), name.as_str()) else {
            return Err(self.malformed("STACK_GLOBAL without strings"));
        };
        self.global(module, name)
    }

    /// REDUCE and NEWOBJ: `callable(*args)` for allow-listed callables.
    fn reduce(&mut self) -> Result<(), WeightErrorKind> {
        let args = self.pop()?;
        let Value::Callable(callable) = self.pop()? else {
            return Err(self.malformed("a call on something that is not callable"));
        };
        let v = self.call(callable, &args)?;
        self.push(v)
    }

    /// BINPERSID: the persistent id on top of the stack, replaced by the
    /// storage it names.
    fn persistent_id(&mut self) -> Result<(), WeightErrorKind> {
        let pid = self.pop()?;
        let v = self.persistent_load(&pid)?;
        self.push(v)
    }

    /// The opcode loop: each opcode is handed to the step that carries it
    /// out, until STOP returns the value on top of the stack. Any opcode
    /// not named here is refused.
    fn run(&mut self) -> Result<Value, WeightErrorKind> {
        loop {
            let at = self.input.pos;
            let opcode = self.input.u8()?;
            match opcode {
                op::PROTO => self.protocol(),
                op::FRAME => self.input.u64().map(drop), // a length hint only
                op::STOP => return self.pop(),

                // Stack manipulation.
                op::MARK => self.mark(),
                op::POP => {
                    self.stack.pop();
                    Ok(())
                }
                op::POP_MARK => self.pop_to_mark().map(drop),
                op::DUP => self.dup(),

                // Scalars.
                op::NONE => self.push(Value::None),
                op::NEWTRUE => self.push(Value::Bool(true)),
                op::NEWFALSE => self.push(Value::Bool(false)),
                op::BININT1 => self.binint(1),
                op::BININT2 => self.binint(2),
                op::BININT => self.binint(4),
                op::LONG1 => self.long1(),
                op::BINFLOAT => self.binfloat(),

                // Text and bytes, after a length of 1, 4 or 8 bytes.
                op::SHORT_BINUNICODE => self.unicode(1),
                op::BINUNICODE => self.unicode(4),
                op::BINUNICODE8 => self.unicode(8),
                op::SHORT_BINSTRING => self.latin1(1),
                op::BINSTRING => self.latin1(4),
                op::SHORT_BINBYTES => self.bytes(1),
                op::BINBYTES => self.bytes(4),

                // Containers.
                op::EMPTY_TUPLE => self.push_sequence(Value::Tuple, Vec::new()),
                op::TUPLE => self.sequence_from_mark(Value::Tuple),
                op::TUPLE1..=op::TUPLE3 => self.tuple_of_top((opcode - op::TUPLE1 + 1) as usize),
                op::EMPTY_LIST => self.push_sequence(Value::List, Vec::new()),
                op::LIST => self.sequence_from_mark(Value::List),
                op::APPEND => self.append_top(),
                op::APPENDS => self.append_marked(),
                op::EMPTY_DICT => self.empty_dict(),
                op::DICT => self.dict_from_mark(),
                op::SETITEM => self.set_top_item(),
                op::SETITEMS => self.set_marked_items(),

                // The memo.
                op::BINPUT => self.binput(1),
                op::LONG_BINPUT => self.binput(4),
                op::MEMOIZE => self.memoize(),
                op::BINGET => self.binget(1),
                op::LONG_BINGET => self.binget(4),

                // Globals and calls, against the allow-list.
                op::GLOBAL => self.text_global(),
                op::STACK_GLOBAL => self.stack_global(),
                op::REDUCE | op::NEWOBJ => self.reduce(),
                // Object state (an OrderedDict's `_metadata`, ...): not needed.
                op::BUILD => self.pop().map(drop),
                op::BINPERSID => self.persistent_id(),
                _ => return Err(WeightErrorKind::ForbiddenOpcode { opcode, position: at }),
            }?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_dict_of_ints_and_strings() {
        // pickle.dumps({'a': 1, 'b': 'x'}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02X\x01\x00\x00\x00xq\x03u.";
        let pickle = read_pickle(data).unwrap();
        let d = pickle.heap.dict(&pickle.root).expect("a dict");
        assert_eq!(d.len(), 2);
        assert!(matches!(&d[0], (Value::Str(k), Value::Int(1)) if &**k == "a"));
        assert!(matches!(&d[1], (Value::Str(k), Value::Str(v)) if &**k == "b" && &**v == "x"));
    }

    #[test]
    fn refuses_unlisted_globals_by_name() {
        let data = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
        assert_eq!(
            read_pickle(data).err().unwrap(),
            WeightErrorKind::ForbiddenGlobal {
                module: "posix".into(),
                name: "system".into()
            }
        );
    }

    #[test]
    fn refuses_unknown_opcodes() {
        // INST (b'i') builds arbitrary objects: never needed for a state dict.
        let err = read_pickle(b"\x80\x02(ios\nsystem\n.").err().unwrap();
        assert_eq!(
            err,
            WeightErrorKind::ForbiddenOpcode {
                opcode: b'i',
                position: 3
            }
        );
    }

    #[test]
    fn truncated_pickle_is_malformed_not_a_panic() {
        let err = read_pickle(b"\x80\x02}q\x00(X\x10\x00\x00\x00ab").err().unwrap();
        assert!(matches!(err, WeightErrorKind::MalformedPickle { .. }));
    }

    #[test]
    fn a_million_nested_tuples_cost_no_stack() {
        // ((((...)))) as EMPTY_TUPLE then TUPLE1 a million times: no
        // recursion builds, reads or drops it.
        let mut data = vec![op::PROTO, 2, op::EMPTY_TUPLE];
        data.extend(std::iter::repeat_n(op::TUPLE1, 1_000_000));
        data.push(op::STOP);
        let pickle = read_pickle(&data).unwrap();
        assert!(pickle.heap.sequence(&pickle.root).is_some());
    }

    #[test]
    fn fetching_a_string_again_shares_it() {
        // A 60 kB string, memoised, fetched 100,000 times: 6 GB if copied.
        let mut data = vec![op::PROTO, 2, op::MARK, op::BINUNICODE];
        data.extend(60_000u32.to_le_bytes());
        data.extend(std::iter::repeat_n(b'x', 60_000));
        data.extend([op::BINPUT, 0]);
        for _ in 0..100_000 {
            data.extend([op::BINGET, 0]);
        }
        data.extend([op::LIST, op::STOP]);
        let pickle = read_pickle(&data).unwrap();
        let items = pickle.heap.sequence(&pickle.root).unwrap();
        assert_eq!(items.len(), 100_001);
        let (Value::Str(first), Value::Str(last)) = (&items[0], &items[100_000]) else {
            panic!("strings")
        };
        assert!(Rc::ptr_eq(first, last), "one string, shared");
    }

    #[test]
    fn a_shape_reused_by_many_tensors_is_charged() {
        // One 50,000-dimension shape tuple, memoised, rebuilt into tensors
        // 1,000 times: each copy would cost 800 kB.
        let mut data = vec![op::PROTO, 2];
        data.extend(b"ctorch._utils\n_rebuild_tensor_v2\nq\x00");
        data.extend(
            b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQq\x01",
        );
        data.push(op::MARK);
        data.extend(std::iter::repeat_n([op::BININT1, 1], 50_000).flatten());
        data.extend([op::TUPLE, op::BINPUT, 2, op::POP]);
        for _ in 0..1_000 {
            data.extend([
                op::BINGET,
                0,
                op::MARK,
                op::BINGET,
                1,
                op::BININT1,
                0,
                op::BINGET,
                2,
                op::BINGET,
                2,
            ]);
            data.extend([op::TUPLE, op::REDUCE, op::POP]);
        }
        data.extend([op::NONE, op::STOP]);
        let err = read_pickle(&data).err().unwrap();
        assert!(
            matches!(&err, WeightErrorKind::MalformedPickle { detail, .. } if detail.contains("more values")),
            "{err}"
        );
    }

    #[test]
    fn encode_of_a_shared_string_is_charged() {
        // _codecs.encode(s) repeated on one memoised 100 kB string.
        let mut data = vec![op::PROTO, 2];
        data.extend(b"c_codecs\nencode\nq\x00");
        data.push(op::BINUNICODE);
        data.extend(100_000u32.to_le_bytes());
        data.extend(std::iter::repeat_n(b'y', 100_000));
        data.extend([op::TUPLE1, op::BINPUT, 1, op::POP]);
        for _ in 0..200 {
            data.extend([op::BINGET, 0, op::BINGET, 1, op::REDUCE, op::POP]);
        }
        data.extend([op::NONE, op::STOP]);
        let err = read_pickle(&data).err().unwrap();
        assert!(
            matches!(&err, WeightErrorKind::MalformedPickle { detail, .. } if detail.contains("more text")),
            "{err}"
        );
    }
}
