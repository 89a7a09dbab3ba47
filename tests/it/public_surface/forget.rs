//! `/forget` in the bot erases the chat's contact: the row and its data
//! key go, so its ciphertexts open under no key; the audit says that an
//! erasure happened, never whom; no dump holds the chat id or the key.

use nasvyazi_shared::telegram::BLIND_INDEX_KIND;
use nasvyazi_supporters::contacts::aad;
use nasvyazi_tests::{assert_no_plaintext, spawn_app_with};

use crate::telegram::{
    TOKEN, config, contact, fake, keys, new_chat, sign_up, wait_published, wait_text,
};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn forget_in_the_bot_crypto_shreds_the_contact() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let chat = new_chat();
    let id = sign_up(&app, &fake, chat).await;
    let (wrapped, chat_ct): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT data_key, address_ct FROM contacts WHERE id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    let keys = keys(&app);
    let key = keys.unwrap_data_key(&wrapped).unwrap();
    assert_eq!(
        key.open_string(&chat_ct, &aad(id, "address")).unwrap(),
        chat.to_string(),
        "before: the chat id decrypts"
    );
    let sent = fake.sent_to(chat).len();

    fake.inject_text(TOKEN, chat, chat, "/forget").unwrap();
    wait_text(&fake, chat, sent, "/start").await;
    assert!(contact(&app, chat).await.is_none(), "the contact is gone");
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contacts WHERE id = $1 OR data_key = $2 OR blind_index = $3",
    )
    .bind(id)
    .bind(&wrapped)
    .bind(keys.blind_index(BLIND_INDEX_KIND, &chat.to_string()))
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(left, 0);
    // Without the wrapped data key nothing opens the ciphertext: not the
    // master key, not a fresh data key.
    let master = nasvyazi_shared::crypto::decode_key(secrecy::ExposeSecret::expose_secret(
        app.config.crypto.master_key.as_ref().unwrap(),
    ))
    .unwrap();
    assert!(master.open(&chat_ct, &aad(id, "address")).is_err());
    assert!(
        keys.new_data_key()
            .0
            .open(&chat_ct, &aad(id, "address"))
            .is_err()
    );

    // The audit: an erasure, asked through the bot, of no one in particular.
    let (actor, target): (String, Option<String>) =
        sqlx::query_as("SELECT actor, target FROM audit_log WHERE action = 'contact.erase'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!((actor.as_str(), target), ("telegram", None));
    let audit: String =
        sqlx::query_scalar("SELECT string_agg(audit_log::text, ' ') FROM audit_log")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert!(
        !audit.contains(&id.to_string()),
        "the audit never says whom"
    );

    // A second /forget finds nothing; the answer says so.
    fake.inject_text(TOKEN, chat, chat, "/forget").unwrap();
    wait_text(&fake, chat, sent + 1, "Об этом чате").await;

    wait_published(&app, "front_outbox").await;
    assert_no_plaintext(&app, &chat.to_string()).await;
    assert_no_plaintext(&app, &hex(&wrapped)).await;
    assert_no_plaintext(&app, &hex(&chat_ct)).await;
    app.stop().await;
}

#[tokio::test]
async fn the_console_erases_on_request_by_telegram_chat() {
    use nasvyazi_supporters::subscriptions::{Person, erase_person};
    let app = spawn_app_with("").await;
    let chat = new_chat();
    let id = crate::telegram::active_contact(&app, chat).await;
    assert!(Person::parse("not a person").is_none());
    let person = Person::parse(&format!(" {chat} ")).unwrap();
    let erased = erase_person(&app.infra.db, &keys(&app), &person, "user:test")
        .await
        .unwrap();
    assert_eq!(erased, Some(id));
    assert!(contact(&app, chat).await.is_none());
    let (actor, target): (String, Option<String>) =
        sqlx::query_as("SELECT actor, target FROM audit_log WHERE action = 'contact.erase'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!((actor.as_str(), target), ("user:test", None));
    let again = erase_person(&app.infra.db, &keys(&app), &person, "user:test")
        .await
        .unwrap();
    assert_eq!(again, None);
    app.stop().await;
}
