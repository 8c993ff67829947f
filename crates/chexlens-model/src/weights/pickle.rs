//! A restricted pickle reader: just enough of the pickle machine to read what
//! `torch.save` writes for a state dict. Nothing is ever executed: globals are
//! resolved against a short allow-list into inert values, and any other global
//! or opcode is refused by name.

use super::error::WeightErrorKind;
use super::tensor::StoredDType;
use std::cell::RefCell;
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
    pub storage: StorageRef,
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

/// A pickled value. Scalars keep their payload for `Debug` output even where
/// the loader never inspects it.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Callable(Callable),
    Storage(StorageRef),
    Tensor(Rc<TensorRef>),
    Opaque,
}

impl Value {
    fn new_dict() -> Self {
        Value::Dict(Rc::new(RefCell::new(Vec::new())))
    }

    fn new_list(items: Vec<Value>) -> Self {
        Value::List(Rc::new(RefCell::new(items)))
    }

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

    fn as_usize_tuple(&self) -> Option<Vec<usize>> {
        match self {
            Value::Tuple(items) => items.iter().map(Value::as_usize).collect(),
            Value::List(items) => items.borrow().iter().map(Value::as_usize).collect(),
            _ => None,
        }
    }

    fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(items) => Some(items.as_ref().clone()),
            Value::List(items) => Some(items.borrow().clone()),
            _ => None,
        }
    }
}

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
    data: &'a [u8],
    pos: usize,
    stack: Vec<Slot>,
    memo: HashMap<u32, Value>,
}

/// Reads a pickle into inert values. Storages come back as [`Value::Storage`]
/// inside [`Value::Tensor`]s; their bytes are read separately from the archive.
pub fn read_pickle(data: &[u8]) -> Result<Value, WeightErrorKind> {
    Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    }
    .run()
}

impl<'a> Machine<'a> {
    fn malformed(&self, detail: impl Into<String>) -> WeightErrorKind {
        WeightErrorKind::MalformedPickle {
            position: self.pos,
            detail: detail.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WeightErrorKind> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| self.malformed("unexpected end of data"))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, WeightErrorKind> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, WeightErrorKind> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, WeightErrorKind> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, WeightErrorKind> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn line(&mut self) -> Result<&'a str, WeightErrorKind> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.malformed("unterminated line"))?;
        let text = std::str::from_utf8(&rest[..end]).map_err(|_| self.malformed("line is not UTF-8"))?;
        self.pos += end + 1;
        Ok(text)
    }

    fn string(&mut self, len: usize) -> Result<Value, WeightErrorKind> {
        let bytes = self.take(len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| self.malformed("string is not UTF-8"))?;
        Ok(Value::Str(text.to_string()))
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Slot::Value(v));
    }

    fn pop(&mut self) -> Result<Value, WeightErrorKind> {
        match self.stack.pop() {
            Some(Slot::Value(v)) => Ok(v),
            Some(Slot::Mark) => Err(self.malformed("found a mark where a value was expected")),
            None => Err(self.malformed("stack underflow")),
        }
    }

    fn top(&mut self) -> Result<&mut Value, WeightErrorKind> {
        let pos = self.pos;
        match self.stack.last_mut() {
            Some(Slot::Value(v)) => Ok(v),
            _ => Err(WeightErrorKind::MalformedPickle {
                position: pos,
                detail: "expected a value on the stack".into(),
            }),
        }
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, WeightErrorKind> {
        let mut items = Vec::new();
        loop {
            match self.stack.pop() {
                Some(Slot::Mark) => break,
                Some(Slot::Value(v)) => items.push(v),
                None => return Err(self.malformed("no mark on the stack")),
            }
        }
        items.reverse();
        Ok(items)
    }

    fn memo_get(&self, index: u32) -> Result<Value, WeightErrorKind> {
        self.memo
            .get(&index)
            .cloned()
            .ok_or_else(|| self.malformed(format!("memo entry {index} is not defined")))
    }

    fn memo_put(&mut self, index: u32) -> Result<(), WeightErrorKind> {
        let v = self.top()?.clone();
        self.memo.insert(index, v);
        Ok(())
    }

    fn set_items(&mut self, target: &Value, pairs: Vec<Value>) -> Result<(), WeightErrorKind> {
        let Value::Dict(dict) = target else {
            return Err(self.malformed("SETITEM(S) on something that is not a dict"));
        };
        if !pairs.len().is_multiple_of(2) {
            return Err(self.malformed("odd number of items for a dict"));
        }
        let mut dict = dict.borrow_mut();
        let mut iter = pairs.into_iter();
        while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
            dict.push((k, v));
        }
        Ok(())
    }

    fn append(&mut self, target: &Value, items: Vec<Value>) -> Result<(), WeightErrorKind> {
        match target {
            Value::List(list) => {
                list.borrow_mut().extend(items);
                Ok(())
            }
            _ => Err(self.malformed("APPEND(S) on something that is not a list")),
        }
    }

    fn call(&self, callable: Callable, args: Value) -> Result<Value, WeightErrorKind> {
        let args = args
            .items()
            .ok_or_else(|| self.malformed("call arguments are not a tuple"))?;
        match callable {
            Callable::OrderedDict => Ok(Value::new_dict()),
            Callable::Opaque => Ok(Value::Opaque),
            Callable::CodecsEncode => match args.first() {
                Some(Value::Str(s)) => Ok(Value::Bytes(s.chars().map(|c| c as u32 as u8).collect())),
                _ => Err(self.malformed("_codecs.encode expects a string")),
            },
            Callable::RebuildParameter => args
                .into_iter()
                .next()
                .ok_or_else(|| self.malformed("_rebuild_parameter without data")),
            Callable::RebuildTensor => {
                let bad = || self.malformed("_rebuild_tensor_v2 with unexpected arguments");
                let Some(Value::Storage(storage)) = args.first() else {
                    return Err(bad());
                };
                let offset = args.get(1).and_then(Value::as_usize).ok_or_else(bad)?;
                let shape = args.get(2).and_then(Value::as_usize_tuple).ok_or_else(bad)?;
                let stride = args.get(3).and_then(Value::as_usize_tuple).ok_or_else(bad)?;
                if shape.len() != stride.len() {
                    return Err(bad());
                }
                Ok(Value::Tensor(Rc::new(TensorRef {
                    storage: storage.clone(),
                    offset,
                    shape,
                    stride,
                })))
            }
            Callable::StorageType(_) => Err(self.malformed("a storage type is not callable here")),
        }
    }

    fn persistent_load(&self, pid: Value) -> Result<Value, WeightErrorKind> {
        let bad = || self.malformed("persistent id is not a torch storage record");
        let items = pid.items().ok_or_else(bad)?;
        // ('storage', torch.FloatStorage, key, location, numel)
        match items.as_slice() {
            [
                Value::Str(tag),
                Value::Callable(Callable::StorageType(dtype)),
                key,
                _location,
                numel,
            ] if tag == "storage" => {
                let key = match key {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err(bad()),
                };
                Ok(Value::Storage(StorageRef {
                    key,
                    dtype: *dtype,
                    numel: numel.as_usize().ok_or_else(bad)?,
                }))
            }
            _ => Err(bad()),
        }
    }

    fn run(mut self) -> Result<Value, WeightErrorKind> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let version = self.u8()?;
                    if version > 5 {
                        return Err(self.malformed(format!("pickle protocol {version}")));
                    }
                }
                0x95 => {
                    // FRAME: a length hint only
                    self.u64()?;
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Slot::Mark),
                b'}' => self.push(Value::new_dict()),
                b']' => self.push(Value::new_list(Vec::new())),
                b')' => self.push(Value::Tuple(Rc::new(Vec::new()))),
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()))
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v.into()))
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v.into()))
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?;
                    if n > 8 {
                        return Err(self.malformed("integer wider than 64 bits"));
                    }
                    let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                        [0xffu8; 8]
                    } else {
                        [0u8; 8]
                    };
                    buf[..n].copy_from_slice(bytes);
                    self.push(Value::Int(i64::from_le_bytes(buf)))
                }
                b'G' => {
                    let b = self.take(8)?;
                    self.push(Value::Float(f64::from_be_bytes(b.try_into().expect("8 bytes"))))
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.string(n)?;
                    self.push(s)
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.string(n)?;
                    self.push(s)
                }
                0x8d => {
                    let n = usize::try_from(self.u64()?).map_err(|_| self.malformed("string too long"))?;
                    let s = self.string(n)?;
                    self.push(s)
                }
                b'U' => {
                    // SHORT_BINSTRING (protocol 2 str of Python 2): latin-1 bytes
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    self.push(Value::Str(b.iter().map(|&c| c as char).collect()))
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.push(Value::Str(b.iter().map(|&c| c as char).collect()))
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b))
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b))
                }
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push(Value::Tuple(Rc::new(items)))
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(Rc::new(items)))
                }
                b'l' => {
                    let items = self.pop_to_mark()?;
                    self.push(Value::new_list(items))
                }
                b'd' => {
                    let items = self.pop_to_mark()?;
                    let dict = Value::new_dict();
                    self.set_items(&dict, items)?;
                    self.push(dict)
                }
                b'q' => {
                    let i = self.u8()?;
                    self.memo_put(i.into())?
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.memo_put(i)?
                }
                b'h' => {
                    let i = self.u8()?;
                    let v = self.memo_get(i.into())?;
                    self.push(v)
                }
                b'j' => {
                    let i = self.u32()?;
                    let v = self.memo_get(i)?;
                    self.push(v)
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, items)?
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?.clone();
                    self.append(&target, vec![v])?
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    let target = self.top()?.clone();
                    self.append(&target, items)?
                }
                b'c' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    let callable = resolve_global(&module, &name)?;
                    self.push(Value::Callable(callable))
                }
                0x93 => {
                    // STACK_GLOBAL
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (module.as_str(), name.as_str()) else {
                        return Err(self.malformed("STACK_GLOBAL without strings"));
                    };
                    let callable = resolve_global(module, name)?;
                    self.push(Value::Callable(callable))
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let Value::Callable(callable) = callable else {
                        return Err(self.malformed("REDUCE on something that is not callable"));
                    };
                    let v = self.call(callable, args)?;
                    self.push(v)
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args), only for allow-listed classes
                    let args = self.pop()?;
                    let Value::Callable(callable) = self.pop()? else {
                        return Err(self.malformed("NEWOBJ on something that is not a class"));
                    };
                    let v = self.call(callable, args)?;
                    self.push(v)
                }
                b'b' => {
                    // BUILD: object state (an OrderedDict's `_metadata`, ...): not needed.
                    self.pop()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.push(v)
                }
                b'0' => {
                    self.stack.pop();
                }
                b'1' => {
                    self.pop_to_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)
                }
                _ => {
                    return Err(WeightErrorKind::ForbiddenOpcode {
                        opcode: op,
                        position: at,
                    });
                }
            }
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
        let Value::Dict(d) = read_pickle(data).unwrap() else {
            panic!("not a dict")
        };
        let d = d.borrow();
        assert_eq!(d.len(), 2);
        assert!(matches!(d[0], (Value::Str(ref k), Value::Int(1)) if k == "a"));
        assert!(matches!(d[1], (Value::Str(ref k), Value::Str(ref v)) if k == "b" && v == "x"));
    }

    #[test]
    fn refuses_unlisted_globals_by_name() {
        let data = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
        assert_eq!(
            read_pickle(data).unwrap_err(),
            WeightErrorKind::ForbiddenGlobal {
                module: "posix".into(),
                name: "system".into()
            }
        );
    }

    #[test]
    fn refuses_unknown_opcodes() {
        // INST (b'i') builds arbitrary objects: never needed for a state dict.
        let err = read_pickle(b"\x80\x02(ios\nsystem\n.").unwrap_err();
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
        let err = read_pickle(b"\x80\x02}q\x00(X\x10\x00\x00\x00ab").unwrap_err();
        assert!(matches!(err, WeightErrorKind::MalformedPickle { .. }));
    }
}
