/// A chat message.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Applies a model's chat template: the Jinja source from the GGUF (`tokenizer.chat_template`) or
/// tokenizer_config.json, rendered by libmii's Jinja interpreter (Generation/Jinja) the way Hugging Face
/// transformers renders it with jinja2 (`apply_chat_template(..., tokenize=False)`): same whitespace
/// options, same variables (`messages`, `add_generation_prompt`, the special tokens), same output.
public struct ChatTemplate: Sendable {
    /// A coarse label of the template's format, from its markers (informational only: rendering
    /// always runs the template itself).
    public enum Family: String, Sendable { case chatml, llama2, llama3, zephyr, unknown }

    public let source: String
    public let family: Family
    /// The system prompt the template appears to add when the conversation has none (ChatML templates
    /// such as SmolLM2's do this). Informational: the template itself inserts it when rendering.
    public let defaultSystemPrompt: String?
    public let bosText: String
    public let eosText: String
    /// The special tokens passed to the template (bos_token, eos_token, unk_token, pad_token).
    public let specialTokens: [String: String]
    private let parsed: Result<JinjaTemplate, MIIError>

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
        var special: [String: String] = [:]
        if let tok = tokenizer {
            for (name, id) in [("bos_token", tok.bosId), ("eos_token", tok.eosId), ("unk_token", tok.unkId), ("pad_token", tok.padId)] {
                if let id { special[name] = tok.tokenText(id) }
            }
        }
        specialTokens = special
        bosText = special["bos_token"] ?? ""
        eosText = special["eos_token"] ?? ""
        // A literal default system message in the template, e.g.
        // "{{ '<|im_start|>system\nYou are a helpful AI assistant ...<|im_end|>\n' }}"
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
        do {
            parsed = .success(try JinjaTemplate(source))
        } catch let e as MIIError {
            parsed = .failure(e)
        } catch {
            parsed = .failure(MIIError.format("chat template: \(error)"))
        }
    }

    /// Renders the conversation; with `addGenerationPrompt` the assistant's turn is opened.
    public func apply(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        let list = messages.map { m in JSONValue.object([("role", .string(m.role)), ("content", .string(m.content))]) }
        return try render(messages: list, addGenerationPrompt: addGenerationPrompt)
    }

    /// Renders arbitrary messages (dicts; content may be a list of parts, messages may carry
    /// tool_calls, ...) with extra template variables (`tools`, `documents`, `enable_thinking`, ...),
    /// which override the defaults.
    public func render(messages: [JSONValue], addGenerationPrompt: Bool,
                       variables: [String: JSONValue] = [:]) throws -> String {
        let template = try parsed.get()
        var context: [String: JSONValue] = [:]
        for (k, v) in specialTokens { context[k] = .string(v) }
        // transformers passes these explicitly, as None when absent.
        context["tools"] = .null
        context["documents"] = .null
        context["messages"] = .array(messages.map(Self.aliasReasoning))
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        for (k, v) in variables { context[k] = v }
        return try template.render(context)
    }

    /// transformers copies a message's reasoning (`reasoning_content`, `thinking` or `reasoning`) under
    /// both `thinking` (first) and `reasoning_content` (last), since templates read either name.
    static func aliasReasoning(_ message: JSONValue) -> JSONValue {
        guard case .object(let members) = message else { return message }
        var reasoning: JSONValue? = nil
        for key in ["reasoning_content", "thinking", "reasoning"] {
            if let v = message[key], !v.isNull { reasoning = v; break }
        }
        guard let r = reasoning else { return message }
        var out: [(String, JSONValue)] = [("thinking", r)]
        for (k, v) in members {
            if let i = out.firstIndex(where: { $0.0 == k }) { out[i].1 = v } else { out.append((k, v)) }
        }
        if let i = out.firstIndex(where: { $0.0 == "reasoning_content" }) { out[i].1 = r } else { out.append(("reasoning_content", r)) }
        return .object(out)
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
