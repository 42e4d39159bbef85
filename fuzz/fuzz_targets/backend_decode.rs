//! The backend message decoder on arbitrary bytes: never a panic, never a message over the cap,
//! and `Ok(None)` leaves the buffer untouched.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pgreach::pgwire::{MAX_PREAUTH_MESSAGE, backend};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a cap, so small caps are exercised too.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let max = if pick & 1 == 0 { MAX_PREAUTH_MESSAGE } else { usize::from(pick) * 4 };
    let mut buf = BytesMut::from(rest);
    loop {
        let before = buf.len();
        match backend::decode(&mut buf, max) {
            Ok(Some(_)) => {
                let used = before - buf.len();
                assert!(used >= 5 && used <= max + 1, "consumed {used} with cap {max}");
            }
            Ok(None) => {
                assert_eq!(buf.len(), before);
                break;
            }
            Err(_) => break,
        }
    }
    let _ = backend::peer_text(rest);
});
