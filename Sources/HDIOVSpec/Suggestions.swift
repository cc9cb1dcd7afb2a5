/// "Did you mean …?" for misspelt keys and words.
enum Suggestions {
    /// The candidate closest to `word` within edit distance 2 (and closer than the word is
    /// long, so `x` does not suggest `id`); the first such candidate on a tie.
    static func closest(to word: String, among candidates: [String]) -> String? {
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let d = editDistance(word, candidate)
            guard d <= 2, d < word.count, d < (best?.distance ?? .max) else { continue }
            best = (candidate, d)
        }
        return best?.candidate
    }

    /// Levenshtein distance over Characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
