//! `table!` declares a table once: the row struct, its columns (name, Arrow type, unit,
//! meaning) and the conversions to and from Arrow record batches all come from one list.

/// Declares a table row type. Every field needs a doc comment (it becomes the column's meaning
/// in `schemas/`) and a unit in brackets (`[-]` when there is none).
#[macro_export]
macro_rules! table {
    (
        $(#[doc = $tdoc:literal])*
        pub struct $name:ident = $table:literal, version $ver:literal {
            $( $(#[doc = $doc:literal])+ $field:ident : $ty:ty [$unit:literal] ),* $(,)?
        }
    ) => {
        $(#[doc = $tdoc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl $crate::table::Table for $name {
            const NAME: &'static str = $table;
            const VERSION: u32 = $ver;
            const DOC: &'static str = concat!($($tdoc, "\n"),*);

            fn columns() -> Vec<$crate::table::Column> {
                use $crate::table::Cell;
                vec![$(
                    $crate::table::Column {
                        name: stringify!($field),
                        data_type: <$ty as Cell>::data_type(),
                        nullable: <$ty as Cell>::nullable(),
                        accepts: <$ty as Cell>::accepts,
                        unit: $unit,
                        doc: concat!($($doc),+),
                    },
                )*]
            }

            fn to_arrays(rows: &[Self]) -> Vec<::arrow_array::ArrayRef> {
                use $crate::table::Cell;
                vec![$(
                    <$ty as Cell>::to_array(rows.iter().map(|r| r.$field.clone()).collect()),
                )*]
            }

            fn from_arrays(
                arrays: &[&dyn ::arrow_array::Array],
            ) -> Result<Vec<Self>, (&'static str, usize, String)> {
                use $crate::table::Cell;
                let mut arrays = arrays.iter();
                let len = arrays.as_slice().first().map_or(0, |a| a.len());
                $(
                    #[allow(non_snake_case)]
                    let mut $field = <$ty as Cell>::from_array(*arrays.next().expect("one array per column"))
                        .map_err(|(row, msg)| (stringify!($field), row, msg))?
                        .into_iter();
                )*
                Ok((0..len)
                    .map(|_| $name { $( $field: $field.next().expect("equal column lengths"), )* })
                    .collect())
            }
        }
    };
}
