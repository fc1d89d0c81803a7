//! The accepted rows of a `scored` batch as a batch of the hub table, column by column.
//!
//! The embeddings (12 KiB of a row's 12.2) are moved from the input's Arrow buffers into the
//! hub batch: never copied into rows and back. The small columns go through their typed
//! [`Cell`] conversion, so every value is checked exactly as a [`TableReader`] checks it.
//!
//! [`TableReader`]: crate::table::TableReader

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow_schema::{DataType, SchemaRef};

use crate::outcome::Status;
use crate::table::hub::HubInput;
use crate::table::{Cell, Table, EMBEDDING_DIM};

/// A bad value: (column, row in the batch, message), as a table's `from_arrays` reports it.
pub type BadValue = (&'static str, usize, String);

/// What one input batch gives.
pub struct Accepted {
    /// The publishable rows, in the hub table's columns (possibly none).
    pub batch: RecordBatch,
    /// Rows whose status is not `ok`.
    pub not_accepted: usize,
    /// `ok` rows that cannot be published: (row in the batch, the missing field).
    pub unpublishable: Vec<(usize, &'static str)>,
}

/// The input's columns that the hub table takes, in `HubInput`'s order.
struct Input<'a> {
    batch: &'a RecordBatch,
    positions: &'a [usize],
}

impl Input<'_> {
    fn column(&self, name: &'static str) -> &ArrayRef {
        let k = HubInput::columns()
            .iter()
            .position(|c| c.name == name)
            .expect("a HubInput column");
        self.batch.column(self.positions[k])
    }

    fn values<C: Cell>(&self, name: &'static str) -> Result<Vec<C>, BadValue> {
        C::from_array(self.column(name).as_ref()).map_err(|(row, message)| (name, row, message))
    }

    /// The column as the hub table types it: as is when it already is (no nulls), else
    /// converted value by value.
    fn conformed<C: Cell>(&self, name: &'static str) -> Result<ArrayRef, BadValue> {
        let array = self.column(name);
        if *array.data_type() == C::data_type() && array.null_count() == 0 {
            return Ok(array.clone());
        }
        Ok(C::to_array(self.values::<C>(name)?))
    }

    /// An embedding column as `FixedSizeList<Float32, 1024>` (null where a row has none),
    /// sharing the input's buffers when it is one already.
    fn embedding(&self, name: &'static str) -> Result<FixedSizeListArray, BadValue> {
        let array = self.column(name);
        let list = match array.data_type() {
            DataType::FixedSizeList(item, n)
                if *n as usize == EMBEDDING_DIM && *item.data_type() == DataType::Float32 =>
            {
                array.as_fixed_size_list().clone()
            }
            _ => <Option<Vec<f32>>>::to_array(self.values::<Option<Vec<f32>>>(name)?)
                .as_fixed_size_list()
                .clone(),
        };
        if let Some(row) = first_row_with_null_values(&list) {
            return Err((name, row, "embedding holds nulls".into()));
        }
        Ok(list)
    }
}

/// The first non-null row of `list` whose values hold a null.
fn first_row_with_null_values(list: &FixedSizeListArray) -> Option<usize> {
    let values = list.values();
    if values.null_count() == 0 {
        return None;
    }
    let n = list.value_length() as usize;
    (0..list.len())
        .find(|&row| list.is_valid(row) && (row * n..(row + 1) * n).any(|i| values.is_null(i)))
}

/// The accepted rows of `batch` (a table with `HubInput`'s columns at `positions`) as a batch
/// of `schema` (the hub table's columns), with fresh row ids and `submitted_at = now`.
pub fn accept(
    batch: &RecordBatch,
    positions: &[usize],
    schema: &SchemaRef,
    now: i64,
) -> Result<Accepted, BadValue> {
    let input = Input { batch, positions };
    let status = input.values::<Status>("status")?;
    let embeddings = [
        input.embedding("video_emb")?,
        input.embedding("audio_emb")?,
        input.embedding("description_emb")?,
    ];
    let scores = [
        input.values::<Option<f64>>("description_relevance")?,
        input.values::<Option<f64>>("query_relevance")?,
    ];
    let (mut not_accepted, mut unpublishable) = (0, Vec::new());
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            if status[row] != Status::Ok {
                not_accepted += 1;
                return Some(false);
            }
            let missing = ["video_emb", "audio_emb", "description_emb"]
                .iter()
                .zip(&embeddings)
                .find(|(_, e)| e.is_null(row))
                .map(|(name, _)| *name)
                .or_else(|| {
                    ["description_relevance", "query_relevance"]
                        .iter()
                        .zip(&scores)
                        .find(|(_, s)| !s[row].is_some_and(f64::is_finite))
                        .map(|(name, _)| *name)
                });
            if let Some(field) = missing {
                unpublishable.push((row, field));
            }
            Some(missing.is_none())
        })
        .collect();
    let kept = keep.true_count();
    let select = |array: ArrayRef| -> ArrayRef {
        if kept == batch.num_rows() {
            array
        } else {
            arrow_select::filter::filter(array.as_ref(), &keep).expect("same length")
        }
    };
    let [video, audio, text] = embeddings.map(|e| select(Arc::new(e)));
    let [description_relevance, query_relevance] =
        scores.map(|s| select(Arc::new(arrow_array::Float64Array::from(s))));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            (0..kept).map(|_| super::ids::uuid4()),
        )),
        select(input.conformed::<String>("video_id")?),
        select(input.conformed::<String>("description")?),
        select(input.conformed::<i64>("views")?),
        select(input.conformed::<i64>("start_time")?),
        select(input.conformed::<i64>("end_time")?),
        without_nulls(&video, schema, "video_embed"),
        without_nulls(&audio, schema, "audio_embed"),
        without_nulls(&text, schema, "description_embed"),
        description_relevance,
        query_relevance,
        select(input.conformed::<String>("query")?),
        Arc::new(Int64Array::from(vec![now; kept])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .expect("accepted columns have the hub table's types");
    Ok(Accepted {
        batch,
        not_accepted,
        unpublishable,
    })
}

/// A kept embedding column (every row has a value) typed as `schema`'s column `name`, whose
/// items are not nullable: the input's null buffers (all valid now) are dropped.
fn without_nulls(kept: &ArrayRef, schema: &SchemaRef, name: &str) -> ArrayRef {
    let field = schema.field_with_name(name).expect("a hub table column");
    let DataType::FixedSizeList(item, size) = field.data_type() else {
        unreachable!("the hub table's embeddings are fixed-size lists")
    };
    let list = kept.as_fixed_size_list();
    let values = list.values().as_primitive::<Float32Type>().values().clone();
    let flat = Float32Array::new(values, None);
    Arc::new(FixedSizeListArray::new(
        item.clone(),
        *size,
        Arc::new(flat),
        None,
    ))
}
