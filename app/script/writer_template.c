/* The offline script writer. It knows no facts, so it does not state any: it
 * frames the topic as questions, what to look for, how we know things and why
 * they matter, then closes with a call to action. The choice of hook, the
 * order of the scene angles and the palettes depend only on the topic and the
 * options (FNV-1a hash), so the same request always gives the same script.
 *
 * Length follows the word budget: a hook, body scenes (3 to 10 by duration;
 * 2 for the shortest videos), and a call to action, filled sentence by
 * sentence toward script_word_budget(). */
#include "script/script.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "render/palette.h"

#define TONE_COUNT 6
#define TOPIC_MAX 320
#define SUBJECT_MAX_WORDS 3
#define KEYWORDS_MAX 6
#define TOPIC_HASHTAGS 4
#define WORDS_PER_BODY_SCENE 40.0
#define SHORT_SCENE_WORDS 12.0    /* fewer body words than 3 of these: two scenes */
#define LEAD_IN_MIN_WORDS 20.0    /* scenes shorter than this skip the lead-in */
#define NARRATION_SOFT_MAX 380     /* code points; the validator's cap is 400 */
#define TITLE_MAX 120
#define TOPIC_IN_HOOK_MAX 80       /* longer topics are not quoted in the hook */

static const char *const tone_names[TONE_COUNT] = {
    "informative", "fun", "dramatic", "calm", "inspiring", "mysterious",
};

/* Patterns: {s} is the subject ("octopuses"), {t} the whole topic. */
struct phrasebook {
    const char *lang;                       /* primary language subtag */
    const char *const *hooks[TONE_COUNT];   /* NULL-terminated lists */
    const char *const *const *angles;       /* body scenes; the last is "why it matters" */
    const char *bridge;                     /* follows the hook when there is room */
    const char *const *ctas;
    const char *cta_short;
    const char *description;
    const char *hashtag;
    const char *fallback_subject;
    const char *const *stopwords;
    const char *const *articles;            /* kept in front of the subject */
    const char *const *framing;             /* "history of X": the subject is X */
    const char *const *how_why;             /* "how volcanoes erupt": drop the verb */
    int elision;                            /* l'univers: the word is after the apostrophe */
};

/* ---- English ---- */

static const char *const en_hooks_informative[] = {
    "Here is something about {s} that most people never learn.",
    "{t}. It sounds simple, but there is more to it than you might think.",
    "Most of us think we know {s}. Let's check how much we really do.",
    NULL,
};
static const char *const en_hooks_fun[] = {
    "Quick question: how much do you actually know about {s}? Be honest.",
    "Okay, it is time to talk about {s}, and this is more fun than you expect.",
    "Stop scrolling for a second, because we need to talk about {s}.",
    NULL,
};
static const char *const en_hooks_dramatic[] = {
    "Everything you thought you knew about {s} is about to be tested.",
    "{t}. The answer is not as simple as it first appears.",
    "There is a side of {s} that almost nobody talks about.",
    NULL,
};
static const char *const en_hooks_calm[] = {
    "Let's slow down for a moment and think about {s}.",
    "Take a breath. Today we are looking quietly at {s}.",
    "There is no rush. Let's explore {s} one step at a time.",
    NULL,
};
static const char *const en_hooks_inspiring[] = {
    "Every big discovery starts with a simple question, and today it is about {s}.",
    "Curiosity changes how we see the world. Let's point it at {s}.",
    "Learning about {s} can teach us more than we expect, if we are willing to look.",
    NULL,
};
static const char *const en_hooks_mysterious[] = {
    "Something about {s} has puzzled curious minds for a long time.",
    "{t}. Let's follow the clues and see where they lead.",
    "What is really going on with {s}? Let's look closer.",
    NULL,
};

static const char *const en_question[] = {
    "Start with the big question.",
    "What do we actually mean when we talk about {s}?",
    "Often the simplest version of a question is the most revealing one.",
    "Try to explain it in one sentence, and notice where it gets hard.",
    "That hard spot is exactly where the interesting part begins.",
    "Good questions are worth more than quick answers.",
    NULL,
};
static const char *const en_basics[] = {
    "First, the basics.",
    "Every topic has a few core ideas that everything else depends on.",
    "With {s}, it helps to separate what is observed from what is explained.",
    "Observations tell us what happens. Explanations try to tell us why.",
    "Keeping those two apart makes the whole subject much clearer.",
    "It also shows where experts agree, and where they still argue.",
    NULL,
};
static const char *const en_closer[] = {
    "Now look closer.",
    "When you study {s}, pay attention to the details that seem odd.",
    "Odd details are usually clues that a simple story is missing something.",
    "Ask how it works, what it depends on, and what would change if one piece were gone.",
    "Those three questions open up almost any subject.",
    "They turn a fact you memorise into something you understand.",
    NULL,
};
static const char *const en_surprise[] = {
    "Here is the surprising part.",
    "The more closely people study {s}, the more surprises tend to appear.",
    "What looks simple from far away often turns out to be layered and subtle.",
    "That is not a problem. It is what makes the subject worth exploring.",
    "Surprises are where real understanding usually starts.",
    "So when something does not fit, lean in instead of looking away.",
    NULL,
};
static const char *const en_myths[] = {
    "Watch out for easy myths.",
    "Popular explanations of {s} are often simplified, and some are simply wrong.",
    "A good habit is to ask where a claim comes from and who checked it.",
    "Reliable sources show their evidence and admit what is still unknown.",
    "If an explanation sounds too neat, it probably leaves something out.",
    "Checking takes a minute, and it protects you from repeating a myth.",
    NULL,
};
static const char *const en_connections[] = {
    "Now zoom out.",
    "Nothing about {s} exists in isolation; it links to many other ideas.",
    "Following those links is one of the best ways to learn.",
    "Each connection adds context, and context is what makes facts stick.",
    "Ask what else is related, and the picture keeps growing.",
    "That is how curiosity turns into real knowledge.",
    NULL,
};
static const char *const en_history[] = {
    "How do we know any of this?",
    "What we know about {s} was built up step by step by curious people.",
    "Each careful observation and each tested idea added a piece to the picture.",
    "Some early ideas turned out to be wrong, and that is part of the story too.",
    "Knowledge moves forward by correcting itself.",
    "Knowing how an idea was tested makes it far more convincing.",
    NULL,
};
static const char *const en_try[] = {
    "Here is something you can try.",
    "Next time you come across {s}, pause and ask one more question than usual.",
    "Look for a reliable source, like a museum, a university or a trusted encyclopedia.",
    "Compare two explanations and notice where they differ.",
    "The differences often point to the most interesting open questions.",
    "Small habits like this make you a sharper thinker over time.",
    NULL,
};
static const char *const en_open[] = {
    "Not everything is settled.",
    "Even experts on {s} still have open questions they are working on.",
    "That is exciting, because it means there is still more to discover.",
    "New tools and new ideas keep changing what we can find out.",
    "Today's open questions may be tomorrow's textbook chapters.",
    "Keep an eye on this space, because the story is still being written.",
    NULL,
};
static const char *const en_matters[] = {
    "So why does this matter?",
    "Understanding {s} changes how you see the world around you.",
    "Ideas connect, and one clear idea makes the next one easier to learn.",
    "It also helps you judge new claims instead of just accepting them.",
    "That skill matters far beyond this one topic.",
    "And honestly, knowing how things work is simply satisfying.",
    NULL,
};
static const char *const *const en_angles[] = {
    en_question, en_basics, en_closer, en_surprise, en_myths, en_connections,
    en_history, en_try, en_open, en_matters, NULL,
};
static const char *const en_ctas[] = {
    "If this made you curious, keep asking questions. Follow for more short explainers like this one.",
    "That is a lot to think about. Share this with someone curious, and follow for more.",
    "Stay curious, and follow for more stories like this.",
    NULL,
};
static const char *const en_stopwords[] = {
    "a", "an", "the", "why", "how", "what", "when", "where", "who", "whom", "which", "whose",
    "do", "does", "did", "is", "are", "was", "were", "be", "been", "being", "am", "can",
    "could", "should", "would", "will", "shall", "may", "might", "must", "have", "has",
    "had", "of", "in", "on", "at", "to", "for", "from", "with", "without", "about", "and",
    "or", "but", "not", "no", "really", "actually", "so", "that", "this", "these", "those",
    "it", "its", "it's", "their", "there", "they", "we", "you", "your", "our", "my", "i",
    "me", "us", "them", "he", "she", "his", "her", "as", "by", "into", "than", "then",
    "more", "most", "much", "many", "some", "any", "every", "all", "get", "gets", "got",
    "make", "makes", "made", "just", "very", "out", "up", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine", "ten", "if", "vs", "versus", "behind",
    "inside", "during", "after", "before", "over", "under", "between", "ever", "never",
    "still", "even", "also", "like", "things", "thing", "way", "ways", NULL,
};
static const char *const en_articles[] = {"the", NULL};
static const char *const en_framing[] = {
    "history", "story", "science", "secret", "secrets", "truth", "rise", "fall", "mystery",
    "mysteries", "origin", "origins", "evolution", "psychology", "physics", "chemistry",
    "biology", "future", "power", "art", "benefits", "dangers", "basics", "life", "world",
    "myth", "myths", "facts", "role", "meaning", "economics", "math", "mathematics", NULL,
};

/* ---- Spanish ---- */

static const char *const es_hooks[] = {
    "Esto es algo sobre {s} que la mayoría de la gente nunca aprende.",
    "{t}. Parece sencillo, pero hay mucho más de lo que imaginas.",
    "Creemos que sabemos mucho sobre {s}. Vamos a comprobarlo.",
    NULL,
};
static const char *const es_question[] = {
    "Empecemos por la gran pregunta.",
    "¿Qué queremos decir exactamente cuando hablamos sobre {s}?",
    "Intenta explicarlo en una sola frase y fíjate dónde se vuelve difícil.",
    "Ese punto difícil es justo donde empieza lo interesante.",
    "Las buenas preguntas valen más que las respuestas rápidas.",
    NULL,
};
static const char *const es_basics[] = {
    "Primero, lo básico.",
    "Todo tema tiene unas pocas ideas centrales de las que depende lo demás.",
    "Con {s}, ayuda separar lo que se observa de lo que se explica.",
    "Las observaciones dicen qué pasa; las explicaciones intentan decir por qué.",
    "Mantener esas dos cosas separadas lo aclara todo mucho más.",
    NULL,
};
static const char *const es_closer[] = {
    "Ahora mira más de cerca.",
    "Cuando estudias {s}, presta atención a los detalles que parecen raros.",
    "Los detalles raros suelen ser pistas de que a la historia le falta algo.",
    "Pregunta cómo funciona, de qué depende y qué cambiaría si faltara una pieza.",
    "Así un dato memorizado se convierte en algo que de verdad entiendes.",
    NULL,
};
static const char *const es_myths[] = {
    "Cuidado con los mitos fáciles.",
    "Las explicaciones populares sobre {s} suelen estar simplificadas, y algunas son falsas.",
    "Un buen hábito es preguntar de dónde viene una afirmación y quién la comprobó.",
    "Las fuentes fiables muestran sus pruebas y admiten lo que aún no se sabe.",
    "Si una explicación suena demasiado perfecta, probablemente deja algo fuera.",
    NULL,
};
static const char *const es_connections[] = {
    "Ahora amplía la mirada.",
    "Nada sobre {s} existe de forma aislada; todo se conecta con otras ideas.",
    "Seguir esas conexiones es una de las mejores formas de aprender.",
    "Cada conexión añade contexto, y el contexto hace que lo aprendido se quede.",
    "Así es como la curiosidad se convierte en conocimiento real.",
    NULL,
};
static const char *const es_matters[] = {
    "¿Y por qué importa esto?",
    "Entender {s} cambia la forma en que ves el mundo que te rodea.",
    "Las ideas se conectan, y una idea clara hace que la siguiente sea más fácil.",
    "También te ayuda a juzgar afirmaciones nuevas en lugar de aceptarlas sin más.",
    "Y, sinceramente, saber cómo funcionan las cosas es una satisfacción.",
    NULL,
};
static const char *const *const es_angles[] = {
    es_question, es_basics, es_closer, es_myths, es_connections, es_matters, NULL,
};
static const char *const es_ctas[] = {
    "Si esto te dio curiosidad, sigue haciendo preguntas. Síguenos para más videos como este.",
    "Comparte esto con alguien curioso y síguenos para más.",
    NULL,
};
static const char *const es_stopwords[] = {
    "el", "la", "los", "las", "un", "una", "unos", "unas", "de", "del", "al", "a", "en", "y",
    "o", "que", "qué", "por", "porque", "cómo", "como", "cuál", "cuáles", "cuándo", "dónde",
    "quién", "es", "son", "fue", "era", "tiene", "tienen", "hay", "se", "su", "sus", "con",
    "para", "sin", "sobre", "más", "muy", "lo", "le", "les", "no", "tan", "este", "esta",
    "estos", "estas", "ese", "esa", "uno", "dos", "tres", "cuatro", "cinco", "mi", "tu",
    "pero", "sí", "entre", "hasta", "desde", NULL,
};
static const char *const es_articles[] = {"el", "la", "los", "las", NULL};

/* ---- French ---- */

static const char *const fr_hooks[] = {
    "Voici quelque chose sur {s} que la plupart des gens n'apprennent jamais.",
    "{t}. Cela paraît simple, mais il y a bien plus à découvrir.",
    "On croit bien connaître {s}. Vérifions ensemble.",
    NULL,
};
static const char *const fr_question[] = {
    "Commençons par la grande question.",
    "Que voulons-nous dire exactement quand on évoque {s} ?",
    "Essayez de l'expliquer en une seule phrase, et voyez où cela devient difficile.",
    "C'est précisément là que commence la partie intéressante.",
    "Les bonnes questions valent mieux que les réponses rapides.",
    NULL,
};
static const char *const fr_basics[] = {
    "D'abord, les bases.",
    "Chaque sujet repose sur quelques idées centrales dont tout le reste dépend.",
    "Pour comprendre {s}, il faut séparer ce que l'on observe de ce que l'on explique.",
    "Les observations disent ce qui se passe. Les explications cherchent à dire pourquoi.",
    "Garder ces deux choses séparées rend le sujet bien plus clair.",
    NULL,
};
static const char *const fr_closer[] = {
    "Regardons de plus près.",
    "Quand on étudie {s}, il faut prêter attention aux détails étranges.",
    "Les détails étranges sont souvent des indices qu'il manque quelque chose à l'histoire.",
    "Demandez-vous comment cela fonctionne, de quoi cela dépend, et ce qui changerait sans une pièce.",
    "Ainsi, un fait appris par cœur devient quelque chose que l'on comprend vraiment.",
    NULL,
};
static const char *const fr_myths[] = {
    "Méfiez-vous des mythes faciles.",
    "Les explications populaires sur {s} sont souvent simplifiées, et certaines sont fausses.",
    "Une bonne habitude consiste à demander d'où vient une affirmation et qui l'a vérifiée.",
    "Les sources fiables montrent leurs preuves et admettent ce qui reste inconnu.",
    "Si une explication semble trop parfaite, elle oublie probablement quelque chose.",
    NULL,
};
static const char *const fr_connections[] = {
    "Prenons maintenant du recul.",
    "Rien ne reste isolé quand on étudie {s} ; tout se relie à d'autres idées.",
    "Suivre ces liens est l'une des meilleures façons d'apprendre.",
    "Chaque lien ajoute du contexte, et le contexte aide à retenir.",
    "C'est ainsi que la curiosité devient un vrai savoir.",
    NULL,
};
static const char *const fr_matters[] = {
    "Alors, pourquoi est-ce important ?",
    "Comprendre {s} change la façon dont on voit le monde qui nous entoure.",
    "Les idées se relient, et une idée claire rend la suivante plus facile.",
    "Cela aide aussi à juger les nouvelles affirmations au lieu de les accepter.",
    "Et franchement, savoir comment les choses fonctionnent est un vrai plaisir.",
    NULL,
};
static const char *const *const fr_angles[] = {
    fr_question, fr_basics, fr_closer, fr_myths, fr_connections, fr_matters, NULL,
};
static const char *const fr_ctas[] = {
    "Si cela vous a rendu curieux, continuez à poser des questions. Abonnez-vous pour d'autres vidéos comme celle-ci.",
    "Partagez ceci avec une personne curieuse, et abonnez-vous pour la suite.",
    NULL,
};
static const char *const fr_stopwords[] = {
    "le", "la", "les", "l", "un", "une", "des", "de", "du", "d", "au", "aux", "à", "en", "et",
    "ou", "que", "qu", "quoi", "pourquoi", "comment", "quel", "quelle", "quels", "quelles",
    "quand", "où", "qui", "est", "sont", "a", "ont", "il", "elle", "ils", "elles", "se", "s",
    "sa", "son", "ses", "leur", "leurs", "avec", "pour", "sans", "sur", "dans", "par", "plus",
    "très", "ne", "n", "pas", "ce", "c", "cet", "cette", "ces", "y", "deux", "trois", "on",
    "nous", "vous", "entre", NULL,
};
static const char *const fr_articles[] = {"le", "la", "les", NULL};

/* ---- German ---- */

static const char *const de_hooks[] = {
    "Hier ist etwas zum Thema {s}, das die meisten Menschen nie erfahren.",
    "{t}. Das klingt einfach, aber dahinter steckt mehr, als man denkt.",
    "Wir glauben, viel über {s} zu wissen. Prüfen wir das einmal.",
    NULL,
};
static const char *const de_question[] = {
    "Beginnen wir mit der großen Frage.",
    "Was meinen wir eigentlich genau, wenn es um {s} geht?",
    "Versuche, es in einem einzigen Satz zu erklären, und achte darauf, wo es schwierig wird.",
    "Genau an dieser Stelle beginnt der spannende Teil.",
    "Gute Fragen sind mehr wert als schnelle Antworten.",
    NULL,
};
static const char *const de_basics[] = {
    "Zuerst die Grundlagen.",
    "Jedes Thema hat ein paar Kernideen, von denen alles andere abhängt.",
    "Beim Thema {s} hilft es, Beobachtungen von Erklärungen zu trennen.",
    "Beobachtungen sagen, was passiert. Erklärungen versuchen zu sagen, warum.",
    "Wer beides auseinanderhält, versteht das Thema viel klarer.",
    NULL,
};
static const char *const de_closer[] = {
    "Jetzt schauen wir genauer hin.",
    "Wer sich mit {s} beschäftigt, sollte auf seltsame Details achten.",
    "Seltsame Details sind oft Hinweise darauf, dass der einfachen Geschichte etwas fehlt.",
    "Frage, wie es funktioniert, wovon es abhängt und was sich ohne ein Teil ändern würde.",
    "So wird aus auswendig gelerntem Wissen echtes Verständnis.",
    NULL,
};
static const char *const de_myths[] = {
    "Vorsicht vor einfachen Mythen.",
    "Populäre Erklärungen zum Thema {s} sind oft vereinfacht, und manche sind falsch.",
    "Eine gute Gewohnheit ist zu fragen, woher eine Behauptung kommt und wer sie geprüft hat.",
    "Verlässliche Quellen zeigen ihre Belege und sagen, was noch unbekannt ist.",
    "Wenn eine Erklärung zu glatt klingt, lässt sie wahrscheinlich etwas aus.",
    NULL,
};
static const char *const de_connections[] = {
    "Jetzt ein Schritt zurück.",
    "Nichts am Thema {s} steht für sich allein; alles hängt mit anderen Ideen zusammen.",
    "Diesen Verbindungen zu folgen, ist eine der besten Arten zu lernen.",
    "Jede Verbindung bringt Zusammenhang, und Zusammenhang lässt Wissen haften.",
    "So wird aus Neugier echtes Wissen.",
    NULL,
};
static const char *const de_matters[] = {
    "Und warum ist das wichtig?",
    "Wer {s} versteht, sieht die Welt um sich herum mit anderen Augen.",
    "Ideen hängen zusammen, und eine klare Idee macht die nächste leichter.",
    "Es hilft auch, neue Behauptungen zu prüfen, statt sie einfach zu glauben.",
    "Und ehrlich gesagt: Zu wissen, wie Dinge funktionieren, macht einfach Freude.",
    NULL,
};
static const char *const *const de_angles[] = {
    de_question, de_basics, de_closer, de_myths, de_connections, de_matters, NULL,
};
static const char *const de_ctas[] = {
    "Wenn dich das neugierig gemacht hat, stell weiter Fragen. Folge uns für mehr kurze Erklärungen.",
    "Teile das mit jemandem, der neugierig ist, und folge uns für mehr.",
    NULL,
};
static const char *const de_stopwords[] = {
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "eines", "einem",
    "einen", "und", "oder", "warum", "wieso", "weshalb", "wie", "was", "wann", "wo", "wer",
    "welche", "welcher", "welches", "ist", "sind", "war", "hat", "haben", "es", "sie", "er",
    "sich", "mit", "für", "ohne", "auf", "in", "im", "an", "am", "zu", "zum", "zur", "von",
    "vom", "aus", "bei", "nach", "über", "mehr", "sehr", "nicht", "kein", "keine", "so",
    "zwei", "drei", "vier", "fünf", "man", "wir", "ihr", "uns", "unsere", "wirklich", NULL,
};
static const char *const no_articles[] = {NULL};

/* ---- Portuguese ---- */

static const char *const pt_hooks[] = {
    "Aqui está algo sobre {s} que a maioria das pessoas nunca aprende.",
    "{t}. Parece simples, mas há muito mais do que você imagina.",
    "Achamos que sabemos muito sobre {s}. Vamos conferir.",
    NULL,
};
static const char *const pt_question[] = {
    "Vamos começar pela grande pergunta.",
    "O que queremos dizer exatamente quando falamos sobre {s}?",
    "Tente explicar em uma única frase e perceba onde fica difícil.",
    "É exatamente aí que começa a parte interessante.",
    "Boas perguntas valem mais do que respostas rápidas.",
    NULL,
};
static const char *const pt_basics[] = {
    "Primeiro, o básico.",
    "Todo tema tem algumas ideias centrais das quais todo o resto depende.",
    "Para entender {s}, ajuda separar o que se observa do que se explica.",
    "As observações dizem o que acontece; as explicações tentam dizer por quê.",
    "Manter essas duas coisas separadas deixa tudo muito mais claro.",
    NULL,
};
static const char *const pt_closer[] = {
    "Agora olhe mais de perto.",
    "Ao estudar {s}, preste atenção aos detalhes que parecem estranhos.",
    "Detalhes estranhos costumam ser pistas de que falta algo na história.",
    "Pergunte como funciona, do que depende e o que mudaria se faltasse uma peça.",
    "Assim um fato decorado se torna algo que você realmente entende.",
    NULL,
};
static const char *const pt_myths[] = {
    "Cuidado com os mitos fáceis.",
    "As explicações populares sobre {s} costumam ser simplificadas, e algumas estão erradas.",
    "Um bom hábito é perguntar de onde vem uma afirmação e quem a verificou.",
    "Fontes confiáveis mostram suas evidências e admitem o que ainda não se sabe.",
    "Se uma explicação parece perfeita demais, provavelmente deixa algo de fora.",
    NULL,
};
static const char *const pt_connections[] = {
    "Agora amplie o olhar.",
    "Nada sobre {s} existe isoladamente; tudo se conecta com outras ideias.",
    "Seguir essas conexões é uma das melhores formas de aprender.",
    "Cada conexão acrescenta contexto, e o contexto faz o conhecimento ficar.",
    "É assim que a curiosidade vira conhecimento de verdade.",
    NULL,
};
static const char *const pt_matters[] = {
    "E por que isso importa?",
    "Entender {s} muda a forma como você vê o mundo ao seu redor.",
    "As ideias se conectam, e uma ideia clara torna a próxima mais fácil.",
    "Também ajuda a avaliar novas afirmações em vez de simplesmente aceitá-las.",
    "E, sinceramente, saber como as coisas funcionam é muito satisfatório.",
    NULL,
};
static const char *const *const pt_angles[] = {
    pt_question, pt_basics, pt_closer, pt_myths, pt_connections, pt_matters, NULL,
};
static const char *const pt_ctas[] = {
    "Se isso despertou sua curiosidade, continue perguntando. Siga para mais vídeos como este.",
    "Compartilhe com alguém curioso e siga para mais.",
    NULL,
};
static const char *const pt_stopwords[] = {
    "o", "a", "os", "as", "um", "uma", "uns", "umas", "de", "do", "da", "dos", "das", "em",
    "no", "na", "nos", "nas", "e", "ou", "que", "por", "porque", "porquê", "como", "qual",
    "quais", "quando", "onde", "quem", "é", "são", "foi", "era", "tem", "têm", "há", "se",
    "seu", "sua", "seus", "suas", "com", "para", "sem", "sobre", "mais", "muito", "não",
    "ao", "aos", "este", "esta", "esse", "essa", "dois", "duas", "três", "entre", NULL,
};
static const char *const pt_articles[] = {"o", "a", "os", "as", NULL};

/* ---- Italian ---- */

static const char *const it_hooks[] = {
    "Ecco una cosa su {s} che la maggior parte delle persone non impara mai.",
    "{t}. Sembra semplice, ma c'è molto di più di quanto immagini.",
    "Pensiamo di conoscere bene {s}. Verifichiamolo insieme.",
    NULL,
};
static const char *const it_question[] = {
    "Partiamo dalla grande domanda.",
    "Che cosa intendiamo esattamente quando nominiamo {s}?",
    "Prova a spiegarlo in una sola frase e nota dove diventa difficile.",
    "È proprio lì che comincia la parte interessante.",
    "Le buone domande valgono più delle risposte rapide.",
    NULL,
};
static const char *const it_basics[] = {
    "Prima di tutto, le basi.",
    "Ogni argomento ha poche idee centrali da cui dipende tutto il resto.",
    "Per capire {s}, aiuta separare ciò che si osserva da ciò che si spiega.",
    "Le osservazioni dicono che cosa succede; le spiegazioni cercano di dire perché.",
    "Tenere separate queste due cose rende tutto molto più chiaro.",
    NULL,
};
static const char *const it_closer[] = {
    "Ora guarda più da vicino.",
    "Quando studi {s}, fai attenzione ai dettagli che sembrano strani.",
    "I dettagli strani sono spesso indizi che alla storia manca qualcosa.",
    "Chiediti come funziona, da che cosa dipende e che cosa cambierebbe senza un pezzo.",
    "Così un dato imparato a memoria diventa qualcosa che capisci davvero.",
    NULL,
};
static const char *const it_myths[] = {
    "Attenzione ai miti facili.",
    "Le spiegazioni popolari su {s} sono spesso semplificate, e alcune sono sbagliate.",
    "Una buona abitudine è chiedersi da dove viene un'affermazione e chi l'ha verificata.",
    "Le fonti affidabili mostrano le prove e ammettono ciò che ancora non si sa.",
    "Se una spiegazione sembra troppo perfetta, probabilmente tralascia qualcosa.",
    NULL,
};
static const char *const it_connections[] = {
    "Ora allarga lo sguardo.",
    "Studiare {s} significa scoprire legami con molte altre idee.",
    "Seguire questi legami è uno dei modi migliori per imparare.",
    "Ogni legame aggiunge contesto, e il contesto aiuta a ricordare.",
    "È così che la curiosità diventa conoscenza vera.",
    NULL,
};
static const char *const it_matters[] = {
    "E perché tutto questo è importante?",
    "Capire {s} cambia il modo in cui vedi il mondo intorno a te.",
    "Le idee si collegano, e un'idea chiara rende più facile la successiva.",
    "Aiuta anche a valutare nuove affermazioni invece di accettarle e basta.",
    "E sinceramente, sapere come funzionano le cose è una vera soddisfazione.",
    NULL,
};
static const char *const *const it_angles[] = {
    it_question, it_basics, it_closer, it_myths, it_connections, it_matters, NULL,
};
static const char *const it_ctas[] = {
    "Se questo ti ha incuriosito, continua a farti domande. Seguici per altri video come questo.",
    "Condividilo con qualcuno di curioso e seguici per altro.",
    NULL,
};
static const char *const it_stopwords[] = {
    "il", "lo", "la", "i", "gli", "le", "l", "un", "uno", "una", "di", "del", "dello",
    "della", "dei", "degli", "delle", "a", "al", "allo", "alla", "ai", "agli", "alle", "da",
    "dal", "in", "nel", "nella", "nei", "con", "su", "sul", "per", "tra", "fra", "e", "o",
    "che", "perché", "come", "quale", "quali", "quando", "dove", "chi", "è", "sono", "ha",
    "hanno", "c", "si", "suo", "sua", "suoi", "più", "molto", "non", "tre", "due",
    "questo", "questa", NULL,
};
static const char *const it_articles[] = {"il", "lo", "la", "i", "gli", "le", NULL};

static const char *const en_how_why[] = {"how", "why", NULL};
static const char *const es_how_why[] = {"cómo", "por", "porqué", NULL};
static const char *const fr_how_why[] = {"comment", "pourquoi", NULL};
static const char *const de_how_why[] = {"wie", "warum", "wieso", "weshalb", NULL};
static const char *const pt_how_why[] = {"como", "por", "porque", NULL};
static const char *const it_how_why[] = {"come", "perché", NULL};

static const struct phrasebook phrasebooks[] = {
    {"en",
     {en_hooks_informative, en_hooks_fun, en_hooks_dramatic, en_hooks_calm,
      en_hooks_inspiring, en_hooks_mysterious},
     en_angles, "Let's get into it.", en_ctas, "Follow for more.",
     "{t}: a short look at the questions worth asking about {s}. Follow for more.",
     "#didyouknow", "this topic", en_stopwords, en_articles, en_framing, en_how_why, 0},
    {"es", {es_hooks, es_hooks, es_hooks, es_hooks, es_hooks, es_hooks},
     es_angles, "Vamos a verlo paso a paso.", es_ctas, "Síguenos para más.",
     "{t}: un breve recorrido por las preguntas que vale la pena hacerse sobre {s}. Síguenos para más.",
     "#sabíasque", "este tema", es_stopwords, es_articles, NULL, es_how_why, 0},
    {"fr", {fr_hooks, fr_hooks, fr_hooks, fr_hooks, fr_hooks, fr_hooks},
     fr_angles, "Voyons cela étape par étape.", fr_ctas, "Abonnez-vous pour la suite.",
     "{t} : un court regard sur les questions à se poser sur {s}. Abonnez-vous pour la suite.",
     "#lesaviezvous", "ce sujet", fr_stopwords, fr_articles, NULL, fr_how_why, 1},
    {"de", {de_hooks, de_hooks, de_hooks, de_hooks, de_hooks, de_hooks},
     de_angles, "Schauen wir es uns Schritt für Schritt an.", de_ctas, "Folge uns für mehr.",
     "{t}: ein kurzer Blick auf die Fragen, die sich zum Thema {s} lohnen. Folge uns für mehr.",
     "#wusstestdu", "dieses Thema", de_stopwords, no_articles, NULL, de_how_why, 0},
    {"pt", {pt_hooks, pt_hooks, pt_hooks, pt_hooks, pt_hooks, pt_hooks},
     pt_angles, "Vamos ver passo a passo.", pt_ctas, "Siga para mais.",
     "{t}: um olhar rápido sobre as perguntas que valem a pena sobre {s}. Siga para mais.",
     "#vocêsabia", "este tema", pt_stopwords, pt_articles, NULL, pt_how_why, 0},
    {"it", {it_hooks, it_hooks, it_hooks, it_hooks, it_hooks, it_hooks},
     it_angles, "Vediamolo passo dopo passo.", it_ctas, "Seguici per altro.",
     "{t}: uno sguardo veloce alle domande che vale la pena farsi su {s}. Seguici per altro.",
     "#losapevi", "questo argomento", it_stopwords, it_articles, NULL, it_how_why, 1},
};

/* The topic, taken apart once. */
struct topic_info {
    char clean[TOPIC_MAX];          /* one line, single spaces, no trailing . ? ! */
    char subject[160];
    char keywords[KEYWORDS_MAX][48];
    int nkeywords;
};

#define TOKENS_MAX 48

struct token {
    char text[64];      /* as written, outer punctuation removed */
    char word[64];      /* lower case, elided article removed */
    int content;        /* not a stop word */
};

static const struct phrasebook *phrasebook_for(const char *language)
{
    size_t n = strcspn(language, "-");
    for (size_t i = 0; i < sizeof(phrasebooks) / sizeof(phrasebooks[0]); i++)
        if (strlen(phrasebooks[i].lang) == n && strncmp(phrasebooks[i].lang, language, n) == 0)
            return &phrasebooks[i];
    return &phrasebooks[0];
}

static int tone_index(const char *tone)
{
    for (int i = 0; i < TONE_COUNT; i++)
        if (strcmp(tone_names[i], tone) == 0)
            return i;
    return 0;
}

static uint32_t fnv1a(const char *s, uint32_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static int list_has(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

static size_t list_len(const void *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

static size_t codepoints(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static void utf8_truncate(char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max)
        return;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    s[max] = '\0';
}

static void ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static void capitalize(char *s)
{
    if (*s >= 'a' && *s <= 'z')
        *s = (char)(*s - 'a' + 'A');
}

/* One line of text: control characters and runs of white space become one
 * space; invalid UTF-8 keeps only its ASCII bytes; trailing . ? ! dropped. */
static void clean_topic(const char *topic, char *out, size_t outlen)
{
    int ascii_only = script_count_words(topic) < 0;
    size_t n = 0;
    int space = 1;
    for (const unsigned char *p = (const unsigned char *)topic; *p && n + 1 < outlen; p++) {
        if (ascii_only && *p >= 0x80)
            continue;
        if (*p <= ' ' || *p == 0x7F) {
            if (!space)
                out[n++] = ' ';
            space = 1;
            continue;
        }
        out[n++] = (char)*p;
        space = 0;
    }
    out[n] = '\0';
    utf8_truncate(out, outlen - 1);
    n = strlen(out);
    while (n > 0 && strchr(" .?!", out[n - 1]))
        out[--n] = '\0';
}

/* Strips punctuation from both ends of a token (ASCII and ¿ ¡ « » “ ” ‘ ’). */
static void strip_punct(char *s)
{
    static const char *const wide[] = {"¿", "¡", "«", "»", "“", "”", "‘", "’", "—", "–", NULL};
    int changed = 1;
    while (changed && *s) {
        changed = 0;
        size_t len = strlen(s);
        if (strchr("\"'()[]{},.;:!?*_/<>", s[len - 1]) && s[len - 1]) {
            s[len - 1] = '\0';
            changed = 1;
            continue;
        }
        if (strchr("\"'()[]{},.;:!?*_/<>", s[0]) && s[0]) {
            memmove(s, s + 1, len);
            changed = 1;
            continue;
        }
        for (const char *const *w = wide; *w && !changed; w++) {
            size_t wl = strlen(*w);
            if (len >= wl && strncmp(s, *w, wl) == 0) {
                memmove(s, s + wl, len - wl + 1);
                changed = 1;
            } else if (len >= wl && strcmp(s + len - wl, *w) == 0) {
                s[len - wl] = '\0';
                changed = 1;
            }
        }
    }
}

/* The part after an elided article or pronoun: l'univers → univers. */
static const char *after_elision(const char *s)
{
    const char *apos = strchr(s, '\'');
    const char *curly = strstr(s, "’");
    if (apos && (!curly || apos < curly))
        return apos[1] ? apos + 1 : s;
    if (curly)
        return curly[3] ? curly + 3 : s;
    return s;
}

static int tokenize(const char *clean, const struct phrasebook *pb, struct token *toks)
{
    int n = 0;
    const char *p = clean;
    while (*p && n < TOKENS_MAX) {
        size_t len = strcspn(p, " ");
        struct token *t = &toks[n];
        size_t copy = len < sizeof(t->text) - 1 ? len : sizeof(t->text) - 1;
        memcpy(t->text, p, copy);
        t->text[copy] = '\0';
        utf8_truncate(t->text, copy);
        strip_punct(t->text);
        vf_strlcpy(t->word, pb->elision ? after_elision(t->text) : t->text, sizeof(t->word));
        ascii_lower(t->word);
        size_t wl = strlen(t->word);
        if (!pb->elision && wl > 2 && strcmp(t->word + wl - 2, "'s") == 0)
            t->word[wl - 2] = '\0';
        /* topics are often written in English whatever the voice's language */
        t->content = t->word[0] && !list_has(pb->stopwords, t->word) &&
                     !list_has(en_stopwords, t->word) &&
                     strspn(t->word, "0123456789") != strlen(t->word);
        if (t->text[0])
            n++;
        p += len;
        while (*p == ' ')
            p++;
    }
    return n;
}

/* The first run of content words from token `from`; returns its start or -1. */
static int find_run(const struct token *toks, int n, int from, int *end)
{
    int i = from;
    while (i < n && !toks[i].content)
        i++;
    if (i >= n)
        return -1;
    int j = i;
    while (j < n && toks[j].content)
        j++;
    *end = j;
    return i;
}

static void pick_subject(const struct token *toks, int n, const struct phrasebook *pb,
                         struct topic_info *ti)
{
    int end = 0, start = find_run(toks, n, 0, &end);
    if (start < 0) {
        vf_strlcpy(ti->subject, pb->fallback_subject, sizeof(ti->subject));
        return;
    }
    /* "the history of the Roman Empire": the subject is what follows "of" */
    if (pb->framing && end - start == 1 && list_has(pb->framing, toks[start].word) &&
        end < n && (strcmp(toks[end].word, "of") == 0 || strcmp(toks[end].word, "behind") == 0)) {
        int end2 = 0, start2 = find_run(toks, n, end + 1, &end2);
        if (start2 >= 0) {
            start = start2;
            end = end2;
        }
    }
    /* "how volcanoes erupt": a run ending the topic after how/why ends in a verb */
    if (end == n && end - start >= 2 &&
        (list_has(pb->how_why, toks[0].word) || list_has(en_how_why, toks[0].word)))
        end--;
    if (end - start > SUBJECT_MAX_WORDS)
        end = start + SUBJECT_MAX_WORDS;

    struct buf b;
    buf_init(&b, sizeof(ti->subject) - 1);
    int ok = 0;
    if (start > 0 && list_has(pb->articles, toks[start - 1].word))
        ok |= buf_printf(&b, "%s ", toks[start - 1].text);
    for (int i = start; i < end; i++)
        ok |= buf_printf(&b, "%s%s", i > start ? " " : "", toks[i].text);
    vf_strlcpy(ti->subject, ok == 0 && b.data ? b.data : pb->fallback_subject,
               sizeof(ti->subject));
    buf_free(&b);
}

static void pick_keywords(const struct token *toks, int n, struct topic_info *ti)
{
    ti->nkeywords = 0;
    for (int i = 0; i < n && ti->nkeywords < KEYWORDS_MAX; i++) {
        if (!toks[i].content || codepoints(toks[i].word) > 40)
            continue;
        int dup = 0;
        for (int k = 0; k < ti->nkeywords && !dup; k++)
            dup = strcmp(ti->keywords[k], toks[i].word) == 0;
        if (!dup)
            vf_strlcpy(ti->keywords[ti->nkeywords++], toks[i].word, sizeof(ti->keywords[0]));
    }
}

static void analyse_topic(const char *topic, const struct phrasebook *pb, struct topic_info *ti)
{
    struct token toks[TOKENS_MAX];
    memset(ti, 0, sizeof(*ti));
    clean_topic(topic ? topic : "", ti->clean, sizeof(ti->clean));
    int n = tokenize(ti->clean, pb, toks);
    pick_subject(toks, n, pb, ti);
    pick_keywords(toks, n, ti);
}

/* Expands {s} and {t} in pattern into b, capitalising the first letter. */
static int expand(struct buf *b, const char *pattern, const struct topic_info *ti)
{
    size_t start = b->len;
    for (const char *p = pattern; *p; p++) {
        int rc = 0;
        if (p[0] == '{' && (p[1] == 's' || p[1] == 't') && p[2] == '}') {
            rc = buf_puts(b, p[1] == 's' ? ti->subject : ti->clean);
            p += 2;
        } else {
            rc = buf_append(b, p, 1);
        }
        if (rc != 0)
            return -1;
    }
    if (b->data)
        capitalize(b->data + start);
    return 0;
}

/* A narration being built sentence by sentence. */
struct scene_text {
    struct buf text;
    int words;
};

/* Appends one sentence when it fits the narration cap; returns its words or -1. */
static int add_sentence(struct scene_text *st, const char *pattern, const struct topic_info *ti)
{
    struct buf s;
    buf_init(&s, 1024);
    if (expand(&s, pattern, ti) != 0 || !s.data) {
        buf_free(&s);
        return -1;
    }
    size_t have = st->text.data ? codepoints(st->text.data) : 0;
    if (have + 1 + codepoints(s.data) > NARRATION_SOFT_MAX ||
        (st->text.len && buf_puts(&st->text, " ") != 0) || buf_puts(&st->text, s.data) != 0) {
        buf_free(&s);
        return -1;
    }
    int w = script_count_words(s.data);
    buf_free(&s);
    st->words += w;
    return w;
}

static int pattern_words(const char *pattern, const struct topic_info *ti)
{
    struct buf s;
    buf_init(&s, 1024);
    int w = expand(&s, pattern, ti) == 0 && s.data ? script_count_words(s.data) : 0;
    buf_free(&s);
    return w;
}

static json_t *scene_new(struct scene_text *st, const struct topic_info *ti, const char *palette)
{
    json_t *kw = json_array();
    for (int i = 0; kw && i < ti->nkeywords; i++)
        json_array_append_new(kw, json_string(ti->keywords[i]));
    json_t *scene = json_pack("{s:s, s:n, s:{s:o, s:s, s:n}}",
                              "narration", st->text.data ? st->text.data : "",
                              "caption", "visual", "keywords", kw, "palette", palette, "media");
    buf_free(&st->text);
    st->words = 0;
    return scene;
}

/* Palettes rotate from the chosen one, scene by scene. */
static const char *scene_palette(const struct job_options *opt, size_t index)
{
    const char *const *names = palette_names();
    size_t n = list_len((const void *const *)names), start = 0;
    if (n == 0)
        return opt->palette;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], opt->palette) == 0)
            start = i;
    return names[(start + index) % n];
}

static const char *pick_hook(const struct phrasebook *pb, int tone, uint32_t hash,
                             const struct topic_info *ti)
{
    const char *const *hooks = pb->hooks[tone];
    size_t n = list_len((const void *const *)hooks);
    for (size_t k = 0; k < n; k++) {
        const char *h = hooks[(hash + k) % n];
        if (!strstr(h, "{t}") || codepoints(ti->clean) <= TOPIC_IN_HOOK_MAX)
            return h;
    }
    return hooks[0];
}

/* Fills one body scene from an angle toward the running word target. Short
 * scenes skip the angle's lead-in ("First, the basics.") and keep the
 * sentence that carries the topic. */
static void fill_body(struct scene_text *st, const char *const *angle, int *total,
                      double target, int skip_lead, const struct topic_info *ti)
{
    size_t first = skip_lead && angle[0] && angle[1] ? 1 : 0;
    for (size_t i = first; angle[i]; i++) {
        int w = pattern_words(angle[i], ti);
        double gap = target - *total;
        if (i > first && !(*total + w <= target || gap > w / 2.0))
            break;
        int added = add_sentence(st, angle[i], ti);
        if (added < 0)
            break;
        *total += added;
    }
}

static json_t *hashtags_new(const struct topic_info *ti, const struct phrasebook *pb)
{
    json_t *tags = json_array();
    int n = 0;
    for (int i = 0; tags && i < ti->nkeywords && n < TOPIC_HASHTAGS; i++) {
        char tag[48] = "#";
        size_t len = 1;
        for (const char *p = ti->keywords[i]; *p && len + 1 < sizeof(tag); p++) {
            unsigned char c = (unsigned char)*p;
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80)
                tag[len++] = (char)c;
        }
        tag[len] = '\0';
        utf8_truncate(tag, len);
        if (strlen(tag) >= 2 && codepoints(tag) <= 40) {
            json_array_append_new(tags, json_string(tag));
            n++;
        }
    }
    if (tags) {
        json_array_append_new(tags, json_string(pb->hashtag));
        json_array_append_new(tags, json_string("#shorts"));
    }
    return tags;
}

static void make_title(const struct topic_info *ti, const char *fallback, char *out, size_t outlen)
{
    vf_strlcpy(out, ti->clean[0] ? ti->clean : fallback, outlen);
    capitalize(out);
    if (codepoints(out) <= TITLE_MAX)
        return;
    /* cut at the last space before the limit */
    size_t cps = 0, cut = 0;
    for (size_t i = 0; out[i]; i++) {
        if (((unsigned char)out[i] & 0xC0) != 0x80 && ++cps > TITLE_MAX - 1)
            break;
        if (out[i] == ' ')
            cut = i;
    }
    out[cut ? cut : TITLE_MAX] = '\0';
    utf8_truncate(out, strlen(out));
}

json_t *script_template_write(const char *topic, const struct job_options *opt)
{
    const struct phrasebook *pb = phrasebook_for(opt->language);
    int tone = tone_index(opt->tone);
    struct topic_info ti;
    analyse_topic(topic, pb, &ti);
    char lowered[TOPIC_MAX];
    vf_strlcpy(lowered, ti.clean, sizeof(lowered));
    ascii_lower(lowered);
    uint32_t hash = fnv1a(lowered, 2166136261u) ^ (uint32_t)(tone * 7919);

    int budget = script_word_budget(opt);
    json_t *scenes = json_array();
    if (!scenes)
        return NULL;
    size_t index = 0;

    /* hook */
    struct scene_text st = {.words = 0};
    buf_init(&st.text, 2048);
    int total = 0;
    if (add_sentence(&st, pick_hook(pb, tone, hash, &ti), &ti) < 0)
        add_sentence(&st, pb->hooks[tone][0], &ti);
    if (budget >= 100)
        add_sentence(&st, pb->bridge, &ti);
    total = st.words;
    json_array_append_new(scenes, scene_new(&st, &ti, scene_palette(opt, index++)));

    /* body: angles in an order set by tone and topic, "why it matters" last */
    const char *cta = budget >= 80
        ? pb->ctas[hash % list_len((const void *const *)pb->ctas)] : pb->cta_short;
    int cta_words = pattern_words(cta, &ti);
    size_t nangles = list_len((const void *const *)pb->angles);
    double remaining = budget - total - cta_words;
    long want = lround(remaining / WORDS_PER_BODY_SCENE);
    size_t nbody = want < 3 ? 3 : (size_t)want;
    if (remaining < 3 * SHORT_SCENE_WORDS)
        nbody = 2;      /* a 15 s video has room for two short scenes */
    if (nbody > nangles)
        nbody = nangles;
    if (nbody > SCRIPT_MAX_SCENES - 2)
        nbody = SCRIPT_MAX_SCENES - 2;
    size_t rotate = (hash / 7 + (uint32_t)tone * 3) % (nangles - 1);
    double per_scene = remaining / (double)nbody;
    int body_start = total;
    for (size_t k = 0; k < nbody; k++) {
        const char *const *angle = k + 1 == nbody
            ? pb->angles[nangles - 1] : pb->angles[(rotate + k) % (nangles - 1)];
        buf_init(&st.text, 2048);
        fill_body(&st, angle, &total, body_start + per_scene * (double)(k + 1),
                  per_scene < LEAD_IN_MIN_WORDS, &ti);
        json_array_append_new(scenes, scene_new(&st, &ti, scene_palette(opt, index++)));
    }

    /* call to action */
    buf_init(&st.text, 2048);
    if (add_sentence(&st, cta, &ti) < 0)
        add_sentence(&st, pb->cta_short, &ti);
    json_array_append_new(scenes, scene_new(&st, &ti, scene_palette(opt, index++)));

    char title[TOPIC_MAX];
    make_title(&ti, pb->fallback_subject, title, sizeof(title));
    struct buf desc;
    buf_init(&desc, 3000);
    if (expand(&desc, pb->description, &ti) != 0 || !desc.data) {
        buf_free(&desc);
        json_decref(scenes);
        return NULL;
    }
    json_t *script = json_pack("{s:s, s:s, s:o, s:o, s:s}",
                               "title", title, "language", opt->language,
                               "scenes", scenes, "hashtags", hashtags_new(&ti, pb),
                               "description", desc.data);
    buf_free(&desc);
    return script;
}
