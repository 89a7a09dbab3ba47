//! Prints the front's OpenAPI document (`just openapi`), the same one the
//! staff listener serves at `/api/openapi.json`, without a database or a
//! running service: to diff it across commits.

fn main() {
    let doc = nasvyazi_front::api::openapi();
    println!("{}", doc.to_pretty_json().expect("the document serialises"));
}
