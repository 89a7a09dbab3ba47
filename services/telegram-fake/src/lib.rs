//! A faithful local Telegram Bot API (work in progress).
