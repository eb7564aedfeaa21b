"""The quiz: question banks (quiz.bank), sessions (quiz.engine), free-text grading (quiz.grading).

Pure: no Discord, no storage. A session serializes with to_dict()/from_dict().
"""
