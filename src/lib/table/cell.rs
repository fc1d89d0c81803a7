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
