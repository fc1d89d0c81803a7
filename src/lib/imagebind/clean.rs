//! CLIP's text cleaning as ImageBind's `SimpleTokenizer.encode` does it:
//! `whitespace_clean(basic_clean(text)).lower()`, where `basic_clean` is `ftfy.fix_text`
//! followed by `html.unescape` twice. No Rust crate implements ftfy, so the fixes it applies by
//! default are written here, each as its own step (ftfy 6.3's order): HTML entities (only when
//! the text has no `<`), terminal escapes, mojibake (UTF-8 read as Windows-1252), C1 controls,
//! Latin ligatures, full-width characters, line breaks, curly quotes, control characters, NFC.

use unicode_normalization::UnicodeNormalization;

/// The string CLIP's BPE sees.
pub fn clean(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = htmlize::unescape(htmlize::unescape(&fixed).as_ref()).into_owned();
    collapse_whitespace(py_strip(&unescaped)).to_lowercase()
}

/// ftfy.fix_text with its default configuration (the steps CLIP's inputs can hit).
pub fn fix_text(text: &str) -> String {
    let mut t = if text.contains('<') {
        text.to_string()
    } else {
        unescape_entities(text)
    };
    t = remove_terminal_escapes(&t);
    t = fix_mojibake(&t);
    t = t.chars().map(fix_c1_control).collect();
    t = t
        .chars()
        .flat_map(|c| ligature(c).map_or_else(|| vec![c], |s| s.chars().collect()))
        .collect();
    t = fix_width(&t);
    t = fix_line_breaks(&t);
    t = t.chars().map(uncurl).collect();
    t = t.chars().filter(|c| !is_control_to_remove(*c)).collect();
    t.nfc().collect()
}

/// ftfy unescapes only complete entities (`&name;`, `&#N;`), not legacy ones without `;`.
fn unescape_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let body_len = tail[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map_or(0, |n| n);
        let end = 1 + body_len;
        if (2..=25).contains(&end) && tail[end..].starts_with(';') {
            let entity = &tail[..=end];
            let decoded = htmlize::unescape(entity);
            out.push_str(&decoded);
            rest = &tail[end + 1..];
        } else {
            out.push('&');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Removes ANSI terminal escapes (`ESC [ digits/; letter`).
fn remove_terminal_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\u{1b}' && text[i + 1..].starts_with('[') {
            let body = &text[i + 2..];
            let n = body
                .find(|c: char| !(c.is_ascii_digit() || c == ';'))
                .unwrap_or(body.len());
            if body[n..].starts_with(|c: char| c.is_ascii_alphabetic()) {
                let skip_to = i + 2 + n + 1;
                while chars.peek().is_some_and(|(j, _)| *j < skip_to) {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The byte Windows-1252 (with ftfy's "sloppy" extension: the 5 undefined bytes map to the C1
/// control of the same number) encodes `c` as, if any.
fn sloppy_cp1252_byte(c: char) -> Option<u8> {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match c as u32 {
        0..=0x7f | 0xa0..=0xff => Some(c as u32 as u8),
        _ => HIGH.iter().position(|&h| h == c).map(|i| 0x80 + i as u8),
    }
}

/// Repairs UTF-8 that was decoded as Windows-1252: within each run of characters that
/// Windows-1252 can encode, every byte sequence that forms a valid multi-byte UTF-8 character
/// is decoded back (`â€œ` → `“`, `Ã©` → `é`); everything else is left alone, so genuine
/// Latin-1 text (`Crème brûlée`) is untouched.
fn fix_mojibake(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let bytes: Vec<u8> = chars[i..]
            .iter()
            .take(4)
            .map_while(|&c| sloppy_cp1252_byte(c))
            .collect();
        let need = match bytes.first() {
            Some(0xc2..=0xdf) => 2,
            Some(0xe0..=0xef) => 3,
            Some(0xf0..=0xf4) => 4,
            _ => 0,
        };
        if need > 0 && bytes.len() >= need {
            if let Ok(s) = std::str::from_utf8(&bytes[..need]) {
                out.push_str(s);
                i += need;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// C1 control characters that are really Windows-1252 bytes become those characters.
fn fix_c1_control(c: char) -> char {
    match c as u32 {
        0x80..=0x9f => {
            let b = c as u32 as u8;
            const TABLE: [u32; 32] = [
                0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160,
                0x2039, 0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
                0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
            ];
            char::from_u32(TABLE[(b - 0x80) as usize]).unwrap_or(c)
        }
        _ => c,
    }
}

/// ftfy's Latin ligature table.
fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'ŉ' => "ʼn",
        'Ǳ' => "DZ",
        'ǲ' => "Dz",
        'ǳ' => "dz",
        'Ǆ' => "DŽ",
        'ǅ' => "Dž",
        'ǆ' => "dž",
        'Ǉ' => "LJ",
        'ǈ' => "Lj",
        'ǉ' => "lj",
        'Ǌ' => "NJ",
        'ǋ' => "Nj",
        'ǌ' => "nj",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' => "ſt",
        'ﬆ' => "st",
        _ => return None,
    })
}

/// Full-width and half-width forms (U+FF01–U+FFEF) and the ideographic space become their
/// NFKC equivalents, as ftfy's `fix_character_width`.
fn fix_width(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c as u32 {
            0x3000 => out.push(' '),
            0xff01..=0xffef => out.extend(std::iter::once(c).nfkc()),
            _ => out.push(c),
        }
    }
    out
}

fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

fn uncurl(c: char) -> char {
    match c {
        '\u{2bc}' | '\u{2018}'..='\u{201b}' => '\'',
        '\u{201c}'..='\u{201f}' => '"',
        _ => c,
    }
}

/// ftfy's `remove_control_chars` set.
fn is_control_to_remove(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0x206a..=0x206f | 0xfeff | 0xfff9..=0xfffc
        | 0x1d173..=0x1d17a | 0xe0000..=0xe007f)
}

/// Python's `str.isspace`: Unicode White_Space plus the separators \x1c–\x1f.
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// `re.sub(r"\s+", " ", text).strip()`.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if py_isspace(c) {
            in_space = true;
        } else {
            if in_space && !out.is_empty() {
                out.push(' ');
            }
            in_space = false;
            out.push(c);
        }
    }
    out
}
