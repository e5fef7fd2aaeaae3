/// A chat message.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Applies a model's chat template. GGUF files carry a Jinja template; this recognizes the common
/// families by their markers and renders them natively (ChatML, Llama-2 [INST], Llama-3 headers,
/// Zephyr/Phi-3 role tags), including a default system prompt the template inserts.
public struct ChatTemplate: Sendable {
    public enum Family: String, Sendable { case chatml, llama2, llama3, zephyr, unknown }

    public let source: String
    public let family: Family
    /// The system prompt the template adds when the conversation has none (ChatML templates such as
    /// SmolLM2's do this).
    public let defaultSystemPrompt: String?
    public let bosText: String

    public init(source: String, tokenizer: Tokenizer?) {
        self.source = source
        if source.contains("<|im_start|>") {
            family = .chatml
        } else if source.contains("<|start_header_id|>") {
            family = .llama3
        } else if source.contains("[INST]") {
            family = .llama2
        } else if source.contains("<|user|>") {
            family = .zephyr
        } else {
            family = .unknown
        }
        if let bos = tokenizer?.bosId { bosText = tokenizer?.tokenText(bos) ?? "" } else { bosText = "" }
        // A literal default system message in the template, e.g.
        // "{{ '<|im_start|>system\nYou are a helpful AI assistant ...<|im_end|>\n' }}"
        // The newline may be a real one or a Jinja escape ("\\n") inside the string literal.
        var sys: String? = nil
        if family == .chatml {
            for marker in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
                guard let r = source.range(of: marker) else { continue }
                let rest = String(source[r.upperBound...])
                guard let end = rest.range(of: "<|im_end|>") else { continue }
                let text = String(rest[..<end.lowerBound])
                if !text.contains("{") && !text.contains("'") && !text.contains("+") {
                    sys = text.replacingEscapedNewlines()
                    break
                }
            }
        }
        defaultSystemPrompt = sys
    }

    /// Renders the conversation; with `addGenerationPrompt` the assistant's turn is opened.
    public func apply(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        var out = ""
        var msgs = messages
        switch family {
        case .chatml:
            if let sys = defaultSystemPrompt, msgs.first?.role != "system" {
                msgs.insert(ChatMessage(role: "system", content: sys), at: 0)
            }
            for m in msgs { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama3:
            out += bosText
            for m in msgs {
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(m.content.trimmingWhitespace())<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .llama2:
            var system: String? = nil
            if msgs.first?.role == "system" { system = msgs.removeFirst().content }
            for m in msgs {
                if m.role == "user" {
                    var content = m.content
                    if let s = system {
                        content = "<<SYS>>\n\(s)\n<</SYS>>\n\n\(content)"
                        system = nil
                    }
                    out += "\(bosText)[INST] \(content.trimmingWhitespace()) [/INST]"
                } else if m.role == "assistant" {
                    out += " \(m.content.trimmingWhitespace()) </s>"
                }
            }
        case .zephyr:
            for m in msgs { out += "<|\(m.role)|>\n\(m.content)</s>\n" }
            if addGenerationPrompt { out += "<|assistant|>\n" }
        case .unknown:
            throw MIIError.unsupported("this model's chat template is not of a known family")
        }
        return out
    }
}

extension String {
    /// Jinja string-literal escapes for newlines and tabs turned into the characters.
    func replacingEscapedNewlines() -> String {
        var out = ""
        var it = makeIterator()
        while let c = it.next() {
            if c == "\\" {
                guard let n = it.next() else { out.append(c); break }
                switch n {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c); out.append(n)
                }
            } else {
                out.append(c)
            }
        }
        return out
    }

    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}
