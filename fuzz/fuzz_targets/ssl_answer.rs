//! The answer to SSLRequest: the first byte's classification and the decoding of whatever
//! follows an `E` (protocol-3 ErrorResponse, protocol-2 text, or garbage).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgreach::probe::ssl_request::{EAnswer, classify_answer_byte, decode_e_answer, describe_byte};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let _ = classify_answer_byte(first);
    let _ = describe_byte(first);
    match decode_e_answer(rest) {
        EAnswer::Error(e) => {
            // Whatever is kept must be safe to print: no raw control bytes but \t and \n.
            for text in e.message.iter().chain(e.fields.iter().map(|(_, v)| v)) {
                assert!(
                    !text.chars().any(|c| c.is_control() && c != '\t' && c != '\n'),
                    "{text:?}"
                );
            }
        }
        EAnswer::Garbage(_) => {}
    }
});
