//! Tests of the Telegram Bot API fake.
