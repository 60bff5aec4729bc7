/**
 * Plain TypeScript shapes of the hot relevance.v1 messages. Field names are
 * the proto's in camelCase; absent scalar fields decode to their proto3
 * defaults ("" / 0 / false / []).
 */

export interface QueryMessage {
  text: string;
  locale: string;
}

export interface DocumentMessage {
  id: string;
  title: string;
  description: string;
  imageCaption: string;
  boardTitles: string[];
  engagedQueries: string[];
  linkText: string;
  locale: string;
}

export interface ScoreRequestMessage {
  requestId: string;
  /** undefined when the field is absent on the wire. */
  query: QueryMessage | undefined;
  documents: DocumentMessage[];
  routingKey: string;
  experiment: string;
  /** Raw enum number (unknown values are kept so validation can name them). */
  priority: number;
  /** Raw enum number. */
  modelPreference: number;
  /** Raw enum number (CachePolicy); the decoder always sets it, absent when built by hand means 0. */
  cachePolicy?: number;
}

export interface DocumentScoreMessage {
  documentId: string;
  /** 5 values; encoded as packed float (fp32). */
  probabilities: ArrayLike<number>;
  expectedRelevance: number;
  label: number;
  /** Answered from the score cache; the decoder always sets it, absent when built by hand means false. */
  cached?: boolean;
}

export interface ModelInfoMessage {
  role: number;
  name: string;
  version: string;
  backend: string;
}

export interface ScoreResponseMessage {
  requestId: string;
  scores: DocumentScoreMessage[];
  model: ModelInfoMessage | undefined;
  route: string;
}
