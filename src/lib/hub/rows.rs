//! The rows `omega push-hf` publishes (the `omega-multimodal` dataset's 13 columns), the
//! columns it reads from a `scored` table, and the ids the layout needs (uuid4, ULID).

use crate::outcome::Status;

crate::table! {
    /// One accepted video as published on the Hugging Face Hub: the 13 columns of
    /// `omegalabsinc/omega-multimodal` (see the original's `DatasetUploader`), so existing users
    /// read omega's shards unchanged. Embeddings are fixed-length lists (`datasets`:
    /// `List(Value("float32"), length=1024)`).
    pub struct HubRow = "hub", version 1 {
        /// A random uuid4 given to the row when it enters the spool (the original used the same
        /// id for the row's vectors in its vector database).
        video_id: String ["-"],
        /// The submitted video id (a YouTube id for YouTube sources).
        youtube_id: String ["-"],
        /// The submitted description.
        description: String ["-"],
        /// Submitted view count.
        views: i64 ["count"],
        /// Start of the clip in the video.
        start_time: i64 ["s"],
        /// End of the clip in the video.
        end_time: i64 ["s"],
        /// ImageBind video embedding.
        video_embed: Vec<f32> ["-"],
        /// ImageBind audio embedding.
        audio_embed: Vec<f32> ["-"],
        /// ImageBind text embedding of the description.
        description_embed: Vec<f32> ["-"],
        /// `description_relevance` of the `scored` table.
        description_relevance_score: f64 ["-"],
        /// `query_relevance` of the `scored` table.
        query_relevance_score: f64 ["-"],
        /// The query (topic) the video was found for.
        query: String ["-"],
        /// When the row entered the spool.
        submitted_at: i64 ["unix s"],
    }
}

crate::table! {
    /// The columns of a `scored` table that `omega push-hf` publishes; rows with status `ok`
    /// are the accepted videos.
    pub struct HubInput = "push-input", version 1 {
        /// As in `responses`.
        video_id: String ["-"],
        /// As in `responses`.
        description: String ["-"],
        /// As in `responses`.
        views: i64 ["count"],
        /// As in `responses`.
        start_time: i64 ["s"],
        /// As in `responses`.
        end_time: i64 ["s"],
        /// As in `responses`.
        query: String ["-"],
        /// As in `responses`.
        video_emb: Option<Vec<f32>> ["-"],
        /// As in `responses`.
        audio_emb: Option<Vec<f32>> ["-"],
        /// As in `responses`.
        description_emb: Option<Vec<f32>> ["-"],
        /// As in `scored`.
        description_relevance: Option<f64> ["-"],
        /// As in `scored`.
        query_relevance: Option<f64> ["-"],
        /// As in `scored`: only `ok` rows are published.
        status: Status ["-"],
    }
}

/// Why an `ok` input row cannot be published.
#[derive(Debug, Clone, PartialEq)]
pub enum Unpublishable {
    NotAccepted,
    Missing(&'static str),
}

impl HubInput {
    /// The published row, or why there is none.
    pub fn to_hub_row(self, submitted_at: i64) -> Result<HubRow, Unpublishable> {
        if self.status != Status::Ok {
            return Err(Unpublishable::NotAccepted);
        }
        let need = |v: Option<Vec<f32>>, name| v.ok_or(Unpublishable::Missing(name));
        let score = |v: Option<f64>, name| {
            v.filter(|x| x.is_finite())
                .ok_or(Unpublishable::Missing(name))
        };
        Ok(HubRow {
            video_id: uuid4(),
            youtube_id: self.video_id,
            description: self.description,
            views: self.views,
            start_time: self.start_time,
            end_time: self.end_time,
            video_embed: need(self.video_emb, "video_emb")?,
            audio_embed: need(self.audio_emb, "audio_emb")?,
            description_embed: need(self.description_emb, "description_emb")?,
            description_relevance_score: score(
                self.description_relevance,
                "description_relevance",
            )?,
            query_relevance_score: score(self.query_relevance, "query_relevance")?,
            query: self.query,
            submitted_at,
        })
    }
}

/// A random RFC 4122 version-4 UUID, as the original's `uuid.uuid4()`.
pub fn uuid4() -> String {
    let mut b = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A ULID (48-bit millisecond time, 80 random bits) as its 128-bit value.
pub fn new_ulid() -> u128 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    (ms & ((1 << 48) - 1)) << 80 | (fastrand::u128(..) & ((1 << 80) - 1))
}

/// The ULID's canonical 26-character Crockford base-32 text.
pub fn ulid_text(ulid: u128) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26)
        .rev()
        .map(|i| ALPHABET[((ulid >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// The original's Hub path for a file: `default/train/{ULID mod 1000:03}/{ULID}.parquet`.
pub fn omega_layout_path(ulid: u128) -> String {
    format!(
        "default/train/{:03}/{}.parquet",
        ulid % 1000,
        ulid_text(ulid)
    )
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_formats() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "version nibble");
        assert!("89ab".contains(&u[19..20]), "variant bits");
        assert_ne!(uuid4(), u);
        // The ULID spec's example: 01ARZ3NDEKTSV4RRFFQ69G5FAV.
        let example: u128 = 0x01563E3AB5D3D6764C61EFB99302BD5B;
        assert_eq!(ulid_text(example), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!(
            omega_layout_path(example),
            format!(
                "default/train/{:03}/01ARZ3NDEKTSV4RRFFQ69G5FAV.parquet",
                example % 1000
            )
        );
        let a = new_ulid();
        assert_eq!(ulid_text(a).len(), 26);
        assert!(a >> 80 > 0, "time bits are set");
    }
}
