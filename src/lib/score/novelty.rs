//! In-batch de-duplication and novelty (spec §4.2 steps 8–10).
//!
//! Fixed against the original: global novelty is matched to its item by index, not zipped by
//! position with a list that filtering made shorter (B4, which misaligned or dropped items);
//! and an item with no neighbour in the index is fully novel (B9 counted it as a duplicate).

use super::ScoreConfig;
use crate::vector::cosine;

/// What in-batch de-duplication says about one item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InBatch {
    /// A later item this one duplicates (the later copy is kept, as in the original).
    pub duplicate_of: Option<usize>,
    /// `1 − max cos` to the later kept items (1 for the last kept); `None` for duplicates.
    pub local_novelty: Option<f64>,
}

/// De-duplicates one answer's video embeddings and computes local novelty over the kept ones.
pub fn in_batch(videos: &[&[f32]], cfg: &ScoreConfig) -> Vec<InBatch> {
    let n = videos.len();
    let duplicate_of: Vec<Option<usize>> = (0..n)
        .map(|i| {
            (i + 1..n).find(|&j| f64::from(cosine(videos[i], videos[j])) > cfg.duplicate_threshold)
        })
        .collect();
    let kept: Vec<usize> = (0..n).filter(|&i| duplicate_of[i].is_none()).collect();
    (0..n)
        .map(|i| {
            // 1 − the closest later kept item; the last kept item has none and gets 1.
            let local = duplicate_of[i].is_none().then(|| {
                let later = kept
                    .iter()
                    .filter(|&&j| j > i)
                    .map(|&j| f64::from(cosine(videos[i], videos[j])));
                later.reduce(f64::max).map_or(1.0, |closest| 1.0 - closest)
            });
            InBatch {
                duplicate_of: duplicate_of[i],
                local_novelty: local,
            }
        })
        .collect()
}

/// Novelty against the index: `1 − cos` to the nearest stored video; 1 when the index holds
/// nothing near (an empty index means new, not duplicate — B9).
pub fn global_novelty(top1_cosine: Option<f64>) -> f64 {
    top1_cosine.map_or(1.0, |c| 1.0 - c)
}

/// An item's novelty: the smaller of its local and global novelty, paired by item (B4).
pub fn novelty(local: f64, global: f64) -> f64 {
    local.min(global)
}

pub fn too_similar(novelty: f64, cfg: &ScoreConfig) -> bool {
    novelty < cfg.difference_threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> Vec<f32> {
        let mut v = vec![0f32; 1024];
        v[0] = angle.cos();
        v[1] = angle.sin();
        v
    }

    #[test]
    fn later_copy_is_kept_and_local_novelty_by_hand() {
        let c = ScoreConfig::default();
        // a ≈ c (cos 0.995), b apart from both.
        let (a, b, d) = (unit(0.0), unit(1.0), unit(0.1));
        let r = in_batch(&[&a, &b, &d], &c);
        assert_eq!(r[0].duplicate_of, Some(2));
        assert_eq!(r[0].local_novelty, None);
        let cos_bd = (1.0f64 - 0.1).cos();
        assert!((r[1].local_novelty.unwrap() - (1.0 - cos_bd)).abs() < 1e-6);
        assert_eq!(r[2].local_novelty, Some(1.0), "the last item");
    }

    /// B4: the original zipped local novelties of all kept items with global novelties of only
    /// those sent to the index (local ≥ 0.1), misaligning them. Here each item gets its own.
    #[test]
    fn global_novelty_stays_with_its_item() {
        let c = ScoreConfig::default();
        // Item 0 has low local novelty (cos 0.93 to item 1: not a duplicate, novelty 0.07).
        let (a, b, d) = (unit(0.0), unit(0.376), unit(1.5));
        let r = in_batch(&[&a, &b, &d], &c);
        let local: Vec<f64> = r.iter().map(|x| x.local_novelty.unwrap()).collect();
        assert!(local[0] < 0.1 && local[1] >= 0.1 && local[2] >= 0.1);
        // The index answers only for items 1 and 2 (item 0 is already too similar locally).
        let global = [
            None,
            Some(global_novelty(Some(0.99))),
            Some(global_novelty(None)),
        ];
        let finals: Vec<f64> = local
            .iter()
            .zip(&global)
            .map(|(l, g)| novelty(*l, g.unwrap_or(1.0)))
            .collect();
        assert!(too_similar(finals[0], &c), "item 0: local");
        assert!(
            too_similar(finals[1], &c),
            "item 1: its own global novelty 0.01"
        );
        assert!(
            !too_similar(finals[2], &c),
            "item 2: nothing near in the index"
        );
    }

    /// B9: an empty index result is novelty 1, not 0.
    #[test]
    fn empty_index_means_novel() {
        assert_eq!(global_novelty(None), 1.0);
        assert!((global_novelty(Some(0.25)) - 0.75).abs() < 1e-12);
    }
}
