//! "Did you mean" suggestions by edit distance.

/// The candidate closest to `word` when it is close enough to be a likely
/// typo (edit distance at most a third of the word's length, at least 1).
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            // Two swapped neighbours (`nmae`) are one typo, not two.
            if i > 0 && j > 0 && *ca == b[j - 1] && a[i - 1] == *cb {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["hostname", "address", "gateway"];
        assert_eq!(did_you_mean("hostnme", names.into_iter()), Some("hostname"));
        assert_eq!(did_you_mean("gatway", names.into_iter()), Some("gateway"));
        assert_eq!(did_you_mean("zzz", names.into_iter()), None);
        assert_eq!(did_you_mean("adress", names.into_iter()), Some("address"));
        assert_eq!(
            did_you_mean("nmae", ["name", "port"].into_iter()),
            Some("name")
        );
    }
}
