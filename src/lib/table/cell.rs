//! Conversion between Rust field types and Arrow columns. Each field type of a table row
//! implements [`Cell`]; the `table!` macro builds whole rows from these.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow_schema::DataType;

use crate::outcome::{ErrorClass, Status};

/// A value that can live in one Arrow column.
pub trait Cell: Sized {
    /// The Arrow type this field is written as.
    fn data_type() -> DataType;
    /// Whether the column may hold nulls (`Option<T>` fields).
    fn nullable() -> bool {
        false
    }
    /// Whether a column of type `found` can be read as this field.
    fn accepts(found: &DataType) -> bool {
        *found == Self::data_type()
    }
    /// One column from the values of all rows.
    fn to_array(values: Vec<Self>) -> ArrayRef;
    /// All values of one column; `Err((row, message))` names the first bad row.
    fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)>;
}

fn first_null(array: &dyn Array) -> Result<(), (usize, String)> {
    match (0..array.len()).find(|&i| array.is_null(i)) {
        Some(i) => Err((i, "null in a column that must have a value".into())),
        None => Ok(()),
    }
}

fn is_string_type(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Strings may come as Utf8, LargeUtf8 or Utf8View (pyarrow and polars write the latter two).
fn strings(array: &dyn Array) -> Vec<Option<String>> {
    let own = |s: Option<&str>| s.map(str::to_owned);
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().map(own).collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().map(own).collect(),
        DataType::Utf8View => array.as_string_view().iter().map(own).collect(),
        other => unreachable!("schema check let {other} through as a string"),
    }
}

impl Cell for Option<String> {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn nullable() -> bool {
        true
    }
    fn accepts(found: &DataType) -> bool {
        is_string_type(found)
    }
    fn to_array(values: Vec<Self>) -> ArrayRef {
        Arc::new(StringArray::from(values))
    }
    fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
        Ok(strings(array))
    }
}

impl Cell for String {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn accepts(found: &DataType) -> bool {
        is_string_type(found)
    }
    fn to_array(values: Vec<Self>) -> ArrayRef {
        Arc::new(StringArray::from(values))
    }
    fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
        first_null(array)?;
        Ok(strings(array)
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }
}

/// Implements `Cell` for a primitive and its `Option`.
macro_rules! primitive_cell {
    ($t:ty, $dt:expr, $arr:ty, $read:expr) => {
        impl Cell for Option<$t> {
            fn data_type() -> DataType {
                $dt
            }
            fn nullable() -> bool {
                true
            }
            fn to_array(values: Vec<Self>) -> ArrayRef {
                Arc::new(<$arr>::from(values))
            }
            fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
                Ok($read(array))
            }
        }
        impl Cell for $t {
            fn data_type() -> DataType {
                $dt
            }
            fn to_array(values: Vec<Self>) -> ArrayRef {
                Arc::new(<$arr>::from(values))
            }
            fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
                first_null(array)?;
                Ok($read(array)
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect())
            }
        }
    };
}

primitive_cell!(i64, DataType::Int64, Int64Array, |a: &dyn Array| a
    .as_primitive::<Int64Type>()
    .iter()
    .collect::<Vec<_>>());
primitive_cell!(f64, DataType::Float64, Float64Array, |a: &dyn Array| a
    .as_primitive::<Float64Type>()
    .iter()
    .collect::<Vec<_>>());
primitive_cell!(bool, DataType::Boolean, BooleanArray, |a: &dyn Array| a
    .as_boolean()
    .iter()
    .collect::<Vec<_>>());

/// Miner UIDs: written as Int64 (as every tool writes integers), read only within
/// `0..=65535` (u16 on the chain), so an out-of-range value is refused with its row.
impl Cell for Option<crate::uid::Uid> {
    fn data_type() -> DataType {
        DataType::Int64
    }
    fn nullable() -> bool {
        true
    }
    fn to_array(values: Vec<Self>) -> ArrayRef {
        Arc::new(Int64Array::from_iter(
            values.into_iter().map(|v| v.map(i64::from)),
        ))
    }
    fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
        array
            .as_primitive::<Int64Type>()
            .iter()
            .enumerate()
            .map(|(row, v)| {
                v.map(crate::uid::uid_from)
                    .transpose()
                    .map_err(|e| (row, e.to_string()))
            })
            .collect()
    }
}

/// A UID that must be present (the key of a `weights` or `metagraph` row).
impl Cell for crate::uid::Uid {
    fn data_type() -> DataType {
        DataType::Int64
    }
    fn to_array(values: Vec<Self>) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            values.into_iter().map(i64::from),
        ))
    }
    fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
        first_null(array)?;
        <Option<crate::uid::Uid>>::from_array(array).map(|v| v.into_iter().flatten().collect())
    }
}

/// Enums stored by name in a string column.
macro_rules! named_cell {
    ($t:ty) => {
        impl Cell for $t {
            fn data_type() -> DataType {
                DataType::Utf8
            }
            fn accepts(found: &DataType) -> bool {
                is_string_type(found)
            }
            fn to_array(values: Vec<Self>) -> ArrayRef {
                Arc::new(StringArray::from_iter_values(
                    values.iter().map(|v| v.as_str()),
                ))
            }
            fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
                first_null(array)?;
                strings(array)
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        s.unwrap_or_default()
                            .parse()
                            .map_err(|e| (i, format!("{e}")))
                    })
                    .collect()
            }
        }
        impl Cell for Option<$t> {
            fn data_type() -> DataType {
                DataType::Utf8
            }
            fn nullable() -> bool {
                true
            }
            fn accepts(found: &DataType) -> bool {
                is_string_type(found)
            }
            fn to_array(values: Vec<Self>) -> ArrayRef {
                Arc::new(StringArray::from(
                    values
                        .iter()
                        .map(|v| v.map(|v| v.as_str()))
                        .collect::<Vec<_>>(),
                ))
            }
            fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
                strings(array)
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        s.map(|s| s.parse())
                            .transpose()
                            .map_err(|e| (i, format!("{e}")))
                    })
                    .collect()
            }
        }
    };
}

named_cell!(Status);
named_cell!(ErrorClass);

/// Embedding columns: `FixedSizeList<Float32, 1024>`, null where a row has none. Lists of
/// other flavours (pyarrow's `list<float>`) are read too, checking every row's length.
impl Cell for Option<Vec<f32>> {
    fn data_type() -> DataType {
        DataType::FixedSizeList(
            Arc::new(arrow_schema::Field::new("item", DataType::Float32, false)),
            EMBEDDING_DIM as i32,
        )
    }
    fn nullable() -> bool {
        true
    }
    fn accepts(found: &DataType) -> bool {
        match found {
            DataType::FixedSizeList(f, n) => {
                *n as usize == EMBEDDING_DIM && *f.data_type() == DataType::Float32
            }
            DataType::List(f) | DataType::LargeList(f) => *f.data_type() == DataType::Float32,
            _ => false,
        }
    }
    fn to_array(values: Vec<Self>) -> ArrayRef {
        let nulls: Vec<bool> = values.iter().map(Option::is_some).collect();
        let flat: Vec<f32> = values
            .iter()
            .flat_map(|v| {
                v.as_deref()
                    .unwrap_or(&[0.0; EMBEDDING_DIM])
                    .iter()
                    .copied()
            })
            .collect();
        let field = Arc::new(arrow_schema::Field::new("item", DataType::Float32, false));
        let array = arrow_array::FixedSizeListArray::try_new(
            field,
            EMBEDDING_DIM as i32,
            Arc::new(arrow_array::Float32Array::from(flat)),
            Some(arrow_buffer::NullBuffer::from(nulls)),
        )
        .expect("every embedding has EMBEDDING_DIM values");
        Arc::new(array)
    }
    fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
        let row = |i: usize, values: ArrayRef| -> Result<Option<Vec<f32>>, (usize, String)> {
            let v = values.as_primitive::<arrow_array::types::Float32Type>();
            if v.len() != EMBEDDING_DIM {
                return Err((
                    i,
                    format!("embedding has {} values, expected {EMBEDDING_DIM}", v.len()),
                ));
            }
            if v.null_count() > 0 {
                return Err((i, "embedding holds nulls".into()));
            }
            Ok(Some(v.values().to_vec()))
        };
        (0..array.len())
            .map(|i| {
                if array.is_null(i) {
                    return Ok(None);
                }
                match array.data_type() {
                    DataType::FixedSizeList(..) => row(i, array.as_fixed_size_list().value(i)),
                    DataType::List(_) => row(i, array.as_list::<i32>().value(i)),
                    _ => row(i, array.as_list::<i64>().value(i)),
                }
            })
            .collect()
    }
}

/// Embedding columns that must hold a value in every row (the Hub tables).
impl Cell for Vec<f32> {
    fn data_type() -> DataType {
        <Option<Vec<f32>>>::data_type()
    }
    fn accepts(found: &DataType) -> bool {
        <Option<Vec<f32>>>::accepts(found)
    }
    fn to_array(values: Vec<Self>) -> ArrayRef {
        let list = <Option<Vec<f32>>>::to_array(values.into_iter().map(Some).collect());
        let list = list.as_fixed_size_list().clone();
        let (field, size, values, _) = list.into_parts();
        Arc::new(arrow_array::FixedSizeListArray::new(
            field, size, values, None,
        ))
    }
    fn from_array(array: &dyn Array) -> Result<Vec<Self>, (usize, String)> {
        first_null(array)?;
        Ok(<Option<Vec<f32>>>::from_array(array)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }
}

/// Width of every embedding column.
pub const EMBEDDING_DIM: usize = 1024;
