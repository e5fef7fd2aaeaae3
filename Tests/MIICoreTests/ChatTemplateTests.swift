import Foundation
import MIICore
import XCTest

/// SmolLM2's chat template rendered by libmii against Hugging Face's apply_chat_template on the same
/// GGUF (scripts/fixtures/make_chat_template_reference.py), text and token ids.
final class ChatTemplateTests: XCTestCase {
    func testSmolLM2TemplateMatchesTransformers() throws {
        let model = try Model(path: try Fixtures.smolLM2())
        let template = try XCTUnwrap(model.chatTemplate)
        XCTAssertEqual(template.family, .chatml)
        let d = try Fixtures.json("smollm2/chat_template.json") as! [String: Any]
        let cases = d["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 6)
        for c in cases {
            let msgs = (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
            let gen = c["add_generation_prompt"] as! Bool
            let text = try template.apply(msgs, addGenerationPrompt: gen)
            XCTAssertEqual(text, c["text"] as? String)
            let ids = try model.tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            XCTAssertEqual(ids, (c["ids"] as! [Int]).map(Int32.init))
        }
    }

    func testUnsupportedTemplateIsAnError() throws {
        let t = ChatTemplate(source: "{% include 'other.jinja' %}", tokenizer: nil)
        XCTAssertThrowsError(try t.apply([ChatMessage(role: "user", content: "hi")])) { e in
            XCTAssertEqual((e as? MIIError)?.code, .unsupported)
        }
    }

    func testMalformedTemplateIsAFormatError() throws {
        let t = ChatTemplate(source: "{% for m in messages %}{{ m.content }}", tokenizer: nil)
        XCTAssertThrowsError(try t.apply([ChatMessage(role: "user", content: "hi")])) { e in
            XCTAssertEqual((e as? MIIError)?.code, .invalidFormat)
        }
    }

    func testAnyTemplateRenders() throws {
        let t = ChatTemplate(source: "{% for m in messages %}[{{ m.role|upper }}] {{ m.content }}\n{% endfor %}", tokenizer: nil)
        XCTAssertEqual(try t.apply([ChatMessage(role: "user", content: "hi"), ChatMessage(role: "assistant", content: "yo")]),
                       "[USER] hi\n[ASSISTANT] yo\n")
    }
}
