//! The default text-similarity model (all-MiniLM-L6-v2 from PyPI packages) gives the cosines
//! documented for it, i.e. real sentence semantics.

use omega::model::SentenceModel;
use omega::vector::cosine;

#[test]
fn minilm_gives_the_documented_similarities() {
    let dir = std::env::var("OMEGA_TEXT_MODEL")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/models/minilm").into());
    let mut m = SentenceModel::load(std::path::Path::new(&dir), 2)
        .expect("text model: run scripts/setup.sh");
    let e = m
        .embed(&[
            "A dog catching a frisbee in the park".into(),
            "A puppy plays fetch on the grass".into(),
            "Stock market crash explained in 5 minutes".into(),
        ])
        .unwrap();
    let (near, far) = (cosine(&e[0], &e[1]), cosine(&e[0], &e[2]));
    assert!((near - 0.476).abs() < 0.02, "{near}");
    assert!((far - 0.015).abs() < 0.03, "{far}");
    // Batching does not change an embedding.
    let alone = m
        .embed(&["A puppy plays fetch on the grass".into()])
        .unwrap();
    assert!(cosine(&alone[0], &e[1]) > 0.9999);
    // Texts of very different lengths and repeats (a query beside long descriptions): grouped
    // by length and each run once, every result still matches the text embedded alone.
    let long = "A dog catching a frisbee in the park on a sunny afternoon, ".repeat(12);
    let texts: Vec<String> = vec![
        long.clone(),
        "dog".into(),
        "A puppy plays fetch on the grass".into(),
        long.clone(),
        "dog".into(),
    ];
    let mixed = m.embed(&texts).unwrap();
    assert_eq!(mixed.len(), texts.len());
    assert_eq!(mixed[0], mixed[3], "a repeated text is embedded once");
    assert_eq!(mixed[1], mixed[4]);
    for (t, got) in texts.iter().zip(&mixed) {
        let alone = m.embed(std::slice::from_ref(t)).unwrap();
        assert!(cosine(&alone[0], got) > 0.9999, "{t}");
    }
}
