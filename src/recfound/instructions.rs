//! The instruction variants of RecFound Appendix B.2 ("Diverse Instructions"), transcribed from
//! the paper, and a seeded per-sample choice among them.
//!
//! Text is verbatim apart from PDF artefacts, each noted at its task: a page break inside the
//! first User Profile variant is joined, and one Item2Item line that the PDF runs together is
//! split in two.

use super::task::TaskId;

/// B.2 "Query Rewriting" (5 variants). The B.3 example appends " Now the dialogue you need to
/// rewrite is shown below:" and the dialogue to the instruction; the builder adds that, not this
/// table.
const QUERY_REWRITING: &[&str] = &[
    "Please undertake the task of rephrasing the questions and responses in a given conversation. You will be given a dialogue between two individuals (I will use A: for the first person and B: for the second person). For each query/response, an indication will be provided in parentheses at the end showing whether it requires rewriting. If no rewriting is needed, simply return the original content; if it does, use the preceding context to modify the sentence appropriately, making its meaning clearer, such as by specifying pronouns, adding place names or times, etc.",
    "Please carry out a task to rephrase the queries and replies in a given conversation. You will receive a dialogue between two people (I will label the first person as A: and the second person as B:). For each query/reply, I will note in parentheses at the end whether the sentence needs rewriting. If no rewriting is required, simply return the original text; if rewriting is required, use the preceding context to modify the sentence appropriately to make its meaning clearer, such as specifying pronouns, adding locations or times, etc.",
    "Please accomplish the task of rephrasing the queries and responses in a given conversation. You will be provided with a dialogue between two individuals (I will use A: to refer to the first person and B: to refer to the second person). For each query/response, I will specify in parentheses at the end whether it needs to be rewritten. If no rewriting is needed, return the original content; if rewriting is required, use the previous context to appropriately modify the sentence to make its meaning clearer, such as specifying pronouns, adding place names, or times, etc.",
    "Please perform the task of rephrasing the questions and answers in a given conversation. You will receive a dialogue between two people (denoted as A: for the first person and B: for the second person). For each question/answer, I will indicate at the end in parentheses whether it needs to be rewritten. If no rewriting is necessary, simply return the original content; if rewriting is necessary, use the context to modify the sentence appropriately to make its meaning clearer, such as by specifying pronouns, adding place names, or times, etc.",
    "Please complete a task of rewriting the queries and replies in a given conversation. You will receive a dialogue between two people (I will use A: to denote the first person and B: to denote the second person). For each query/reply, I will indicate in parentheses at the end whether the sentence needs to be rewritten. If rewriting is not required, you just need to return the original content; if rewriting is required, please use the preceding context to modify the sentence appropriately to make its meaning clearer, such as specifying pronouns, adding place names or times, etc.",
];

/// B.2 "Attribute Value Extraction" (5 variants).
const ATTRIBUTE_VALUE_EXTRACTION: &[&str] = &[
    "Given the title, description, feature, price, and brand of a product and a set of target attributes, extract the value of each target attribute from the product information. Output the extracted value and the corresponding source (e.g., title or feature) denoting where the value is extracted.",
    "Extract the value of the target attribute from the given product information and output it along with the corresponding source.",
    "Parse the product information to locate the target attribute, and then provide the extracted value of the target attribute and its source in the output, specifying None if the attribute is not present.",
    "First, identify the target attributes from the provided list. Then, scan the product title, description, feature, and brand to extract the values associated with each target attribute. Finally, create a list of dictionaries, each containing the extracted attribute, its corresponding value, and the source where it was found.",
    "Using the product's title, description, features, price, and brand, identify and retrieve the values associated with a specified set of target attributes. Output the extracted values along with their respective sources (e.g., title or feature) indicating where each value was found.",
];

/// B.2 "Answer Generation" (5 variants).
const ANSWER_GENERATION: &[&str] = &[
    "Given a question and the related document, and generate the answer to the question based on the information provided in the document.",
    "Generate an answer to the question by utilizing the information contained in the document.",
    "Extract information from the supporting document to answer the given question.",
    "Answer the given question using the supporting document.",
    "Answer the given question by extracting information from the supporting document.",
];

/// B.2 "User Profile": the paper prints one template per source (MovieLens, then goodbooks), not
/// several wordings of one, so each source has exactly one. The bracketed slots are the paper's
/// placeholders, filled by a builder. The PDF breaks a page inside the first one
/// ("Analyze / user's"); it is joined here.
const USER_PROFILE: &[&str] = &[
    "Given a [Male/Female] user who is aged 18-24 and in a [student/service staff/.../unknown occupation], this user's movie viewing history over time is listed below. [History Sequence] Analyze user's preferences on movies (consider factors like genre, director/actors, time period/country, character, plot/theme, mood/tone, critical acclaim/award, production quality, and soundtrack). Provide clear explanations based on relevant details from the user's movie viewing history and other pertinent factors.",
    "Given user's book rating history: [List of Bookname: Rating] Analyze user's preferences on books about factors like genre, author, writing style, theme, setting, length and complexity, time period, literary quality, critical acclaim (Provide clear explanations based on relevant details from the user's book viewing history and other pertinent factors.)",
];

/// B.2 "Sequential Recommendation" (5 variants).
const SEQUENTIAL_RECOMMENDATION: &[&str] = &[
    "Given the products the user has purchased in history, rank the items in the listed options and output the item that the user is most likely to purchase next. Answer from one of the options.",
    "Based on the user's historical purchases, rank the items in options and predict the next product of the user's interest from the provided options.",
    "Rank the items in options and predict the user's next purchase from the listed options by analyzing her historical purchases.",
    "The user's purchase history implies her preferences. Rank the items in the options based on the user's preferences. Output the item that the user is most likely to purchase next from the options.",
    "Rank items in listed options based on the user's purchase history to determine the item that the user is most likely to purchase next. Output the item with the highest likelihood of being the next purchase.",
];

/// B.2 "Sentiment Analysis" (5 variants). The fifth spells out the option order the B.3 example
/// uses (A: very positive ... E: very negative).
const SENTIMENT_ANALYSIS: &[&str] = &[
    "Given the user's review, identify the user's sentiment from the listed options. Answer using one of the options.",
    "Assess the user's sentiment in the provided review and select the appropriate sentiment option from the list as the answer.",
    "Determine the sentiment expressed by the user in her review from the provided choices, and respond by selecting one of the available options.",
    "Carefully assess the user's review for any strong expressions of sentiment, either positive or negative. Based on your analysis, select the most fitting sentiment option from the provided list as output.",
    "Analyze the user's review text and determine the overall sentiment expressed, then choose the corresponding sentiment option from the provided list (A: very positive, B: positive, C: neutral, D: negative, E: very negative) based on the identified sentiment.",
];

/// B.2 "Answerability Prediction" (5 variants).
const ANSWERABILITY_PREDICTION: &[&str] = &[
    "Given a question and the related document, predict if the question is answerable based on the information provided in the document. Output only yes or no.",
    "Evaluate the answerability of a question by analyzing the related document, outputting yes if the document contains information addressing the question, and no otherwise.",
    "Analyze a question and its supporting document. Predicting answerability based on the information provided in the document. Output yes if the document contains relevant information to answer the question, otherwise output no.",
    "Given a question and its related document, determine if the question is answerable by analyzing the information in the document. Output yes if the document addresses the question, or no otherwise.",
    "Output yes if the supporting document can answer the given question. Otherwise, output no.",
];

/// B.2 "Item Profile": like User Profile, one template per source (MovieLens, goodbooks), so one
/// each; bracketed slots are the paper's placeholders.
const ITEM_PROFILE: &[&str] = &[
    "Introduce movie [Movie name] and describe its attributes (including but not limited to genre, director/cast, country, character, plot/theme, mood/tone, critical acclaim/award, production quality, and soundtrack).",
    "Introduce book [Book name], which is from [Source] Page and describe its attributes including but not limited to genre, author, writing style, theme, setting, length and complexity, time period, literary quality, critical acclaim.",
];

/// B.2 "Product Relation Prediction" (5 variants).
const PRODUCT_RELATION_PREDICTION: &[&str] = &[
    "Given the title of two products, predict if the two products are similar, if the two products will be purchased or viewed together. Answer only from the options.",
    "Analyze the titles of Product 1 and Product 2 to determine if they are similar, if they will be purchased or viewed together, and choose the corresponding option.",
    "Evaluate the titles of Product 1 and Product 2, then choose the option that best describes the relation between the two products.",
    "Evaluate the titles of Product 1 and Product 2 to assess their similarity and whether they are likely to be purchased or viewed together. Then, select the appropriate option.",
    "Predict whether two products are similar, whether two products are likely to be purchased or viewed together based on their titles. Choose your answer from the provided options.",
];

/// B.2 "Product Matching" (5 variants).
const PRODUCT_MATCHING: &[&str] = &[
    "Given the title, description, manufacturer, and price of two products, identify if they are the same product. Only output yes or no.",
    "Analyze the title, description, manufacturer, and price between the two products below and generate an output of yes if the two products are the same, otherwise respond with no.",
    "Check the details of the two products to see if they refer to the same product. Output only yes or no.",
    "Based on the product information, predict if the two products are identical or not. Output yes if they are identical or no otherwise.",
    "Compare the details of two given products to determine if they are identical. Output yes if they are identical or no otherwise.",
];

/// B.2 "User2Item" query instructions (5 variants). The document-side wordings ("Represent this
/// product to match a user sequence:", ...) appear only in the B.3 example, not as a full list.
const EMB_USER: &[&str] = &[
    "Represent this sequence of user actions to predict the next product he/she will purchase (User sequence is in reverse chronological order):",
    "Encode this user activity sequence to forecast their next product purchase (User sequence is in reverse chronological order):",
    "Create an embedding of this user sequence to determine the next product they will purchase (User sequence is in reverse chronological order):",
    "Generate a representation of this user sequence to find the next product this user will buy (User sequence is in reverse chronological order):",
    "Represent this user sequence to retrieve the next product this user will buy (User sequence is in reverse chronological order):",
];

/// B.2 "Query2Item" query instructions (5 variants).
const EMB_QUERY: &[&str] = &[
    "Represent this user query to find a matching item:",
    "Generate a representation of this user query to locate a relevant item:",
    "Create an embedding of this user query to retrieve a relevant item:",
    "Use the representation of the user query to identify a relevant item:",
    "Represent this user query to retrieve a relevant item:",
];

/// B.2 "Item2Item" query instructions. The PDF prints four bullets, the second reading "...to
/// facilitate the retrieval of similar items item Based on the title and categories of a
/// product, generate an embedding to identify similar products": two sentences run together
/// (every other task has five). We split it at "items item" and drop the stray "item", giving
/// five. None of them ends with the ":" the B.3 example shows; the builder adds it.
const EMB_ITEM: &[&str] = &[
    "Create an embedding for the product using its title and categories to help find similar items",
    "Generate an embedding for a product based on its title and categories to facilitate the retrieval of similar items",
    "Based on the title and categories of a product, generate an embedding to identify similar products",
    "Using the product's title and categories, produce an embedding to retrieve items that are alike",
    "Given the title of a product and its category, please generate an embedding for the product to retrieve similar items",
];

/// Every B.2 instruction of `task` (for embedding tasks: the query-side ones). Empty for
/// [`TaskId::None`].
pub fn instructions(task: TaskId) -> &'static [&'static str] {
    match task {
        TaskId::EmbUser => EMB_USER,
        TaskId::EmbQuery => EMB_QUERY,
        TaskId::EmbItem => EMB_ITEM,
        TaskId::QueryRewriting => QUERY_REWRITING,
        TaskId::SequentialRecommendation => SEQUENTIAL_RECOMMENDATION,
        TaskId::ProductRelationPrediction => PRODUCT_RELATION_PREDICTION,
        TaskId::SentimentAnalysis => SENTIMENT_ANALYSIS,
        TaskId::AttributeValueExtraction => ATTRIBUTE_VALUE_EXTRACTION,
        TaskId::ProductMatching => PRODUCT_MATCHING,
        TaskId::UserProfile => USER_PROFILE,
        TaskId::ItemProfile => ITEM_PROFILE,
        TaskId::AnswerabilityPrediction => ANSWERABILITY_PREDICTION,
        TaskId::AnswerGeneration => ANSWER_GENERATION,
        TaskId::None => &[],
    }
}

/// The instruction of sample `index` of `task` under `seed`: a pure function of the three, so a
/// sample keeps its instruction however the samples are ordered or filtered.
///
/// Panics on [`TaskId::None`], which has no instructions.
pub fn choose_instruction(task: TaskId, seed: u64, index: u64) -> &'static str {
    let pool = instructions(task);
    assert!(!pool.is_empty(), "task `{task}` has no instructions to choose from");
    let h = mix64(seed ^ mix64(task.id() as u64 ^ mix64(index)));
    pool[(h % pool.len() as u64) as usize]
}

/// SplitMix64's finaliser: a cheap, well-spread hash of one word.
pub(crate) fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_but_none_has_instructions() {
        for task in TaskId::ALL {
            let n = instructions(task).len();
            match task {
                TaskId::None => assert_eq!(n, 0),
                // One template per source (MovieLens, goodbooks).
                TaskId::UserProfile | TaskId::ItemProfile => assert_eq!(n, 2, "{task}"),
                _ => assert_eq!(n, 5, "{task}"),
            }
        }
    }

    #[test]
    fn b3_example_instructions_are_in_the_pools() {
        // Each B.3 example's instruction is one of the B.2 variants.
        let sa = "Given the user's review, identify the user's sentiment from the listed options. Answer using one of the options.";
        assert!(instructions(TaskId::SentimentAnalysis).contains(&sa));
        let pm = "Given the title, description, manufacturer, and price of two products, identify if they are the same product. Only output yes or no.";
        assert!(instructions(TaskId::ProductMatching).contains(&pm));
        let ap = "Given a question and its related document, determine if the question is answerable by analyzing the information in the document. Output yes if the document addresses the question, or no otherwise.";
        assert!(instructions(TaskId::AnswerabilityPrediction).contains(&ap));
        let ag = "Generate an answer to the question by utilizing the information contained in the document.";
        assert!(instructions(TaskId::AnswerGeneration).contains(&ag));
    }

    #[test]
    fn choice_is_seeded_and_covers_the_pool() {
        let task = TaskId::SentimentAnalysis;
        assert_eq!(choose_instruction(task, 7, 3), choose_instruction(task, 7, 3));
        let seen: std::collections::HashSet<_> = (0..200).map(|i| choose_instruction(task, 7, i)).collect();
        assert_eq!(seen.len(), 5);
        let differs = (0..50).any(|i| choose_instruction(task, 7, i) != choose_instruction(task, 8, i));
        assert!(differs, "a different seed should change some choices");
    }
}
