//! The built-in example survey "Access to OST in hospitals" (ru / kk / en),
//! after the forum's 2020 survey of OST patients on methadone in
//! hospitals: created with one click in the console (`/admin/surveys/new`)
//! or `POST /api/v1/admin/surveys/examples/ost-access`, as a draft. It
//! must never be invalid (a unit test checks it) or miss a language.

use serde_json::{Value, json};

use crate::model::SurveyInput;

pub const SLUG: &str = "ost-access";

fn t(ru: &str, kk: &str, en: &str) -> Value {
    json!({ "ru": ru, "kk": kk, "en": en })
}

fn opt(id: &str, ru: &str, kk: &str, en: &str) -> Value {
    json!({ "id": id, "text": t(ru, kk, en) })
}

/// The definition (valid by construction; a unit test checks it).
pub fn ost_access() -> SurveyInput {
    let yes = opt("yes", "Да", "Иә", "Yes");
    let no = opt("no", "Нет", "Жоқ", "No");
    let v = json!({
        "slug": SLUG,
        "title": t(
            "Доступ к ОЗТ в больницах",
            "Ауруханаларда ОАТ қолжетімділігі",
            "Access to OST in hospitals"
        ),
        "intro": t(
            "Мы собираем опыт пациентов опиоидной заместительной терапии (ОЗТ), которые попадали в больницу. Опрос анонимный и займёт 3–5 минут. Результаты войдут в обращения в Министерство здравоохранения.",
            "Ауруханаға түскен опиоидты алмастырушы терапия (ОАТ) пациенттерінің тәжірибесін жинаймыз. Сауалнама жасырын, 3–5 минут алады. Нәтижелер Денсаулық сақтау министрлігіне жолданатын өтініштерге енеді.",
            "We are collecting the experience of opioid substitution therapy (OST) patients who have been in hospital. The survey is anonymous and takes 3–5 minutes. The results will go into our letters to the Ministry of Health."
        ),
        "questions": [
            {"id": "q1", "kind": "single", "required": true,
             "text": t(
                "Лежали ли вы в больнице за последние 2 года, находясь на ОЗТ?",
                "Соңғы 2 жылда ОАТ қабылдап жүріп ауруханада жатқан кезіңіз болды ма?",
                "Were you in hospital in the last 2 years while on OST?"),
             "options": [yes, no],
             "skip_if": {"question": "q1", "equals": "no", "skip_to": "q4"}},
            {"id": "q2", "kind": "single", "required": true,
             "text": t(
                "Давали ли вам метадон в больнице?",
                "Ауруханада сізге метадон берілді ме?",
                "Were you given methadone in hospital?"),
             "options": [
                opt("yes", "Да, каждый день", "Иә, күн сайын", "Yes, every day"),
                opt("partly", "Не каждый день или не полную дозу", "Күн сайын емес немесе толық доза емес", "Not every day or not the full dose"),
                opt("no", "Нет", "Жоқ", "No")
             ],
             "skip_if": {"question": "q2", "equals": "yes", "skip_to": "q4"}},
            {"id": "q3", "kind": "single",
             "text": t(
                "Была ли у вас в больнице абстиненция (ломка)?",
                "Ауруханада абстиненция (сындыру) болды ма?",
                "Did you go through withdrawal in hospital?"),
             "options": [yes, no]},
            {"id": "q4", "kind": "region", "required": true,
             "text": t(
                "В какой области вы получаете ОЗТ?",
                "ОАТ-ны қай облыста аласыз?",
                "In which region do you receive OST?")},
            {"id": "q5", "kind": "site",
             "text": t(
                "Ваш пункт ОЗТ",
                "Сіздің ОАТ пунктіңіз",
                "Your OST site")},
            {"id": "q6", "kind": "multiple",
             "text": t(
                "Что помогло бы получать метадон в больнице? (можно выбрать несколько)",
                "Ауруханада метадон алуға не көмектесер еді? (бірнешеуін таңдауға болады)",
                "What would help you get methadone in hospital? (choose any)"),
             "options": [
                opt("order", "Приказ Минздрава о выдаче ОЗТ в больницах", "ОАТ-ны ауруханада беру туралы ДСМ бұйрығы", "A Ministry of Health order on OST in hospitals"),
                opt("delivery", "Доставка дозы из пункта ОЗТ в палату", "Дозаны ОАТ пунктінен палатаға жеткізу", "The dose brought from the OST site to the ward"),
                opt("training", "Обучение врачей и медсестёр больниц", "Аурухана дәрігерлері мен мейіргерлерін оқыту", "Training for hospital doctors and nurses"),
                opt("peer", "Помощь равного консультанта", "Тең кеңесшінің көмегі", "Help from a peer consultant"),
                opt("hotline", "Горячая линия, если отказывают в дозе", "Доза берілмесе, сенім телефоны", "A hotline to call when the dose is refused")
             ]},
            {"id": "q7", "kind": "text",
             "text": t(
                "Расскажите, что произошло (без имён и названий больниц, если не хотите)",
                "Не болғанын айтып беріңіз (қаламасаңыз, аты-жөнсіз және аурухана атауынсыз)",
                "Tell us what happened (no names or hospital names if you prefer)")}
        ]
    });
    serde_json::from_value(v).expect("the example parses")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_is_valid_in_three_languages() {
        let s = super::ost_access();
        crate::model::validate(&s).unwrap();
        for q in &s.questions {
            assert_eq!(q.text.len(), 3, "{}", q.id);
            for o in &q.options {
                assert_eq!(o.text.len(), 3, "{}.{}", q.id, o.id);
            }
        }
    }
}
