//! OMEGA's v2 text handling (`omega/imagebind_wrapper.py`, ERA `5fd0724`): descriptions are
//! split into chunks of at most 74 BPE tokens, each chunk is embedded, and the chunk
//! embeddings are averaged. The quirks are reproduced on purpose, because validators recompute
//! them: token id 0 (`!` inside a word) is not counted, the length tokenizer stops at 1024,
//! delimiters at chunk boundaries are dropped, and the last-resort token split can make
//! chunks longer than 74 tokens.

use super::bpe::{ClipBpe, EOT, SOT};

/// `TOKEN_CHUNK_SIZE` of the original.
pub const CHUNK_TOKENS: usize = 74;
/// Context of OMEGA's `LENGTH_TOKENIZER`.
pub const LENGTH_CONTEXT: usize = 1024;
const DELIMITERS: [&str; 6] = ["\n", ".", "!", "?", ",", " "];

/// `tokens[tokens != 0][1:-1]` of the 1024-context tokenizer: BPE ids without SOT, EOT and the
/// id 0, as the original counts them (past 1022 tokens the last one kept is dropped instead of EOT).
fn counted_ids(bpe: &ClipBpe, text: &str) -> Vec<u32> {
    counted_ids_in(bpe, text, LENGTH_CONTEXT)
}

fn counted_ids_in(bpe: &ClipBpe, text: &str, context: usize) -> Vec<u32> {
    let mut ids = Vec::with_capacity(64);
    ids.push(SOT);
    ids.extend(bpe.encode(text));
    ids.push(EOT);
    ids.truncate(context);
    let nonzero: Vec<u32> = ids.into_iter().filter(|&i| i != 0).collect();
    if nonzero.len() < 2 {
        return Vec::new();
    }
    nonzero[1..nonzero.len() - 1].to_vec()
}

/// The validator's unique-token count for the length scaling.
pub fn unique_token_count(bpe: &ClipBpe, text: &str) -> usize {
    let ids = counted_ids(bpe, text);
    let set: std::collections::HashSet<u32> = ids.into_iter().collect();
    set.len()
}

/// `split_text_by_token_limit` with a chunk size and a length-tokenizer context: OMEGA's v2
/// chunks use (74, 1024), the extraneous-chunk stuffing check (60, 10000).
#[derive(Debug, Clone, Copy)]
pub struct Splitter {
    pub max_tokens: usize,
    pub context: usize,
}

/// OMEGA's v2 description chunks.
pub const V2: Splitter = Splitter {
    max_tokens: CHUNK_TOKENS,
    context: LENGTH_CONTEXT,
};

impl Splitter {
    fn fits(&self, bpe: &ClipBpe, text: &str) -> bool {
        counted_ids_in(bpe, text, self.context).len() <= self.max_tokens
    }

    /// The chunks of `text`, raw (uncleaned) strings.
    pub fn split(&self, bpe: &ClipBpe, text: &str) -> Vec<String> {
        self.split_recursive(bpe, text, &DELIMITERS)
    }

    fn split_recursive(&self, bpe: &ClipBpe, text: &str, delimiters: &[&str]) -> Vec<String> {
        if self.fits(bpe, text) {
            return vec![text.to_string()];
        }
        let Some((delimiter, rest)) = delimiters.split_first() else {
            return self.split_by_tokens(bpe, text);
        };
        let mut segments = Vec::new();
        let mut current = String::new();
        for part in text.split(delimiter) {
            let candidate = if current.is_empty() {
                format!("{current}{part}")
            } else {
                format!("{current}{delimiter}{part}")
            };
            if self.fits(bpe, &candidate) {
                current = candidate;
            } else {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
                current = part.to_string();
            }
        }
        if !current.is_empty() {
            segments.push(current);
        }
        let mut out = Vec::new();
        for segment in segments {
            if self.fits(bpe, &segment) {
                out.push(segment);
            } else {
                out.extend(self.split_recursive(bpe, &segment, rest));
            }
        }
        out
    }

    /// The last resort: `numpy.array_split(tokens, int(n / size) or 1)`, each piece decoded.
    fn split_by_tokens(&self, bpe: &ClipBpe, text: &str) -> Vec<String> {
        let ids = counted_ids_in(bpe, text, self.context);
        let pieces = (ids.len() / self.max_tokens).max(1);
        array_split(&ids, pieces)
            .iter()
            .map(|p| bpe.decode(p))
            .collect()
    }
}

/// `split_text_by_token_limit` as OMEGA's v2 text embedding calls it.
pub fn split_text(bpe: &ClipBpe, text: &str) -> Vec<String> {
    V2.split(bpe, text)
}

/// numpy's `array_split`: the first `len % n` pieces get one element more.
fn array_split<T>(items: &[T], n: usize) -> Vec<&[T]> {
    let (base, extra) = (items.len() / n, items.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(&items[start..start + len]);
        start += len;
    }
    out
}

/// The chunks OMEGA embeds for a description: none for an empty text (the original then
/// crashes on `torch.stack([])`; omega reports an error row instead).
pub fn description_chunks(bpe: &ClipBpe, text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    split_text(bpe, text)
}

#[cfg(test)]
mod tests {
    use super::array_split;

    #[test]
    fn array_split_like_numpy() {
        let v: Vec<u32> = (0..121).collect();
        let parts = array_split(&v, 1);
        assert_eq!(parts[0].len(), 121);
        let v: Vec<u32> = (0..10).collect();
        let lens: Vec<usize> = array_split(&v, 3).iter().map(|p| p.len()).collect();
        assert_eq!(lens, vec![4, 3, 3]);
    }
}
