#if canImport(Glibc)
import Glibc
#endif

/// Sampling parameters, with Hugging Face `generate` semantics where the two conventions differ.
public struct SamplingParams: Sendable, Equatable {
    /// 0 means greedy (argmax), whatever the other fields say.
    public var temperature: Float = 0
    /// Keep the k most likely tokens; 0 disables.
    public var topK: Int = 0
    /// Keep the smallest set whose probability reaches p; 1 disables.
    public var topP: Float = 1
    /// Drop tokens whose probability is below min_p times the top probability; 0 disables.
    public var minP: Float = 0
    /// HF-style: logits of tokens already in the context are divided (if > 0) or multiplied by this.
    public var repetitionPenalty: Float = 1
    /// OpenAI-style: subtracted once from the logit of every token already generated or in the prompt.
    public var presencePenalty: Float = 0
    /// OpenAI-style: subtracted per occurrence.
    public var frequencyPenalty: Float = 0
    /// How many recent tokens the penalties look at; 0 or less means the whole context.
    public var penaltyLastN: Int = 0
    /// Random seed; the same seed, model, prompt and parameters give the same text.
    public var seed: UInt64 = 0

    public init() {}

    public func validate() throws {
        if !(temperature.isFinite && temperature >= 0) { throw MIIError.argument("temperature must be >= 0 (got \(temperature))") }
        if topK < 0 { throw MIIError.argument("top_k must be >= 0 (got \(topK))") }
        if !(topP > 0 && topP <= 1) { throw MIIError.argument("top_p must be in (0, 1] (got \(topP))") }
        if !(minP >= 0 && minP <= 1) { throw MIIError.argument("min_p must be in [0, 1] (got \(minP))") }
        if !(repetitionPenalty.isFinite && repetitionPenalty > 0) {
            throw MIIError.argument("repetition_penalty must be > 0 (got \(repetitionPenalty))")
        }
        if !presencePenalty.isFinite || !frequencyPenalty.isFinite {
            throw MIIError.argument("presence/frequency penalties must be finite")
        }
    }
}

/// A small, fast, seedable generator (xoshiro256**), so sampling is reproducible across platforms.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(&x), splitmix(&x), splitmix(&x), splitmix(&x))
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
}

/// Turns logits into the next token: penalties, then greedy or temperature / top-k / top-p / min-p
/// sampling, in Hugging Face's order.
public struct Sampler {
    public let params: SamplingParams
    private var rng: SeededRandom
    private var candidates: [(id: Int32, logit: Float)] = []

    public init(params: SamplingParams) {
        self.params = params
        self.rng = SeededRandom(seed: params.seed)
    }

    /// Applies the penalties in place, given the tokens seen so far (prompt and generated).
    public func applyPenalties(_ logits: UnsafeMutableBufferPointer<Float>, history: ArraySlice<Int32>) {
        let p = params
        if p.repetitionPenalty == 1 && p.presencePenalty == 0 && p.frequencyPenalty == 0 { return }
        let recent = p.penaltyLastN > 0 ? history.suffix(p.penaltyLastN) : history
        var counts: [Int32: Int] = [:]
        for id in recent where id >= 0 && Int(id) < logits.count { counts[id, default: 0] += 1 }
        for (id, n) in counts {
            var l = logits[Int(id)]
            if p.repetitionPenalty != 1 {
                l = l > 0 ? l / p.repetitionPenalty : l * p.repetitionPenalty
            }
            l -= p.presencePenalty + p.frequencyPenalty * Float(n)
            logits[Int(id)] = l
        }
    }

    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bv = -Float.infinity
        for i in 0..<logits.count where logits[i] > bv {
            bv = logits[i]
            best = i
        }
        return Int32(best)
    }

    /// Picks the next token. `logits` may be modified (penalties).
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>, history: ArraySlice<Int32>) -> Int32 {
        applyPenalties(logits, history: history)
        let p = params
        if p.temperature == 0 { return Sampler.argmax(UnsafeBufferPointer(logits)) }
        let n = logits.count
        let invT = 1 / p.temperature
        let maxL = logits[Int(Sampler.argmax(UnsafeBufferPointer(logits)))]
        // Tokens whose probability is below e^-40 of the best one change no sum that matters
        // (at most n * 4e-18); leaving them out keeps the sort short.
        candidates.removeAll(keepingCapacity: true)
        var total: Double = 0
        for i in 0..<n {
            let z = (logits[i] - maxL) * invT
            if z > -40 {
                candidates.append((Int32(i), logits[i]))
                total += Double(expf(z))
            }
        }
        if candidates.isEmpty { return Sampler.argmax(UnsafeBufferPointer(logits)) }  // non-finite logits
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        var keep = candidates.count
        if p.topK > 0 && p.topK < keep {
            keep = p.topK
            total = 0
            for c in candidates[0..<keep] { total += Double(expf((c.logit - maxL) * invT)) }
        }
        var probs = candidates[0..<keep].map { Double(expf(($0.logit - maxL) * invT)) / total }
        if p.topP < 1 {
            var cum = 0.0
            for (i, pr) in probs.enumerated() {
                cum += pr
                if cum >= Double(p.topP) {
                    keep = i + 1
                    break
                }
            }
        }
        if p.minP > 0 {
            let threshold = probs[0] * Double(p.minP)
            var m = 0
            while m < keep && probs[m] >= threshold { m += 1 }
            keep = max(1, m)
        }
        probs.removeSubrange(keep...)
        let mass = probs.reduce(0, +)
        var r = rng.nextUnit() * mass
        for (i, pr) in probs.enumerated() {
            r -= pr
            if r < 0 { return candidates[i].id }
        }
        return candidates[keep - 1].id
    }
}
